"""The benchmark's interleaving and pooling of latency measurements."""
from __future__ import annotations

import pytest

from bench.http import interleaved, merged, public, summary


def test_kinds_are_measured_in_rotating_rounds_and_pooled():
    calls = []

    def kind(name, seconds, ok=True):
        def send(sender, i):
            calls.append(name)
            return ok, seconds
        return send

    kinds = {"a": kind("a", 0.010), "b": kind("b", 0.020), "c": kind("c", 0.030, ok=False)}
    results = interleaved(kinds, concurrency=1, total=12, rounds=3)
    # Each round takes 4 turns of every kind; the kind going first rotates: a b c, b c a, c a b.
    firsts = [calls[i] for i in range(0, len(calls), 4)]
    assert firsts == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert {name: r["turns"] for name, r in results.items()} == {"a": 12, "b": 12, "c": 12}
    assert results["a"]["p50_ms"] == 10.0 and results["b"]["p95_ms"] == 20.0
    assert results["a"]["errors"] == 0 and results["c"]["errors"] == 12
    assert "ms" not in public(results["a"]) and public(results["a"])["turns"] == 12


def test_merging_pools_turns_and_adds_times():
    one = summary(16, [10.0] * 90, 0, 1.0)
    two = summary(16, [100.0] * 10, 2, 1.0)
    both = merged([one, two])
    assert both["turns"] == 100 and both["errors"] == 2
    assert both["throughput_per_s"] == 50.0
    assert both["p50_ms"] == 10.0 and both["p95_ms"] == 100.0


def test_cpu_time_per_turn_is_read_for_the_watched_processes_of_each_kind(monkeypatch):
    import bench.cpu as cpu

    used = {101: 0.0, 202: 0.0}

    def kind(pid, seconds):
        def send(sender, i):
            used[pid] += seconds  # the CPU the server spends on this turn
            return True, 0.001
        return send

    monkeypatch.setattr(cpu, "cpu_seconds", lambda pid: used[pid])
    results = interleaved({"ours": kind(101, 0.004), "stock": kind(202, 0.012)}, concurrency=1, total=8,
                          rounds=2, pids={"ours": {"rasa": 101}, "stock": {"rasa": 202}})
    assert results["ours"]["rasa_cpu_ms_per_turn"] == 4.0
    assert results["stock"]["rasa_cpu_ms_per_turn"] == 12.0


def test_cpu_seconds_reads_this_process():
    import os

    from bench.cpu import cpu_seconds

    before = cpu_seconds(os.getpid())
    sum(i * i for i in range(2_000_000))
    assert cpu_seconds(os.getpid()) > before


def test_growth_takes_the_p50_of_the_turns_around_1_100_and_the_last():
    from bench.http import growth

    asked = []

    def send(sender, i):
        asked.append((sender, i))
        return i != 7, (1 + i) / 1000  # turn i+1 takes i+1 ms; one turn fails

    result = growth(send, conversations=2, turns=500, window=10)
    senders = list(dict.fromkeys(s for s, _ in asked))
    # Two conversations of 500 turns, and a third begun beside the second's last turns.
    assert [sum(1 for s, _ in asked if s == sender) for sender in senders] == [500, 500, 10]
    assert result["errors"] == 3
    # Turns 1-10 take 1-10 ms, turns 91-100 take 91-100 ms, turns 491-500 take 491-500 ms.
    marks = (result["turn_1_p50_ms"], result["turn_100_p50_ms"], result["turn_500_p50_ms"])
    assert marks == (6.0, 96.0, 496.0)


def test_growth_asks_a_conversations_last_turns_beside_the_next_ones_first():
    from bench.http import growth

    asked = []
    growth(lambda sender, i: (asked.append((sender, i)), (True, 0.001))[1], conversations=2, turns=30,
           window=10)
    first, second, third = dict.fromkeys(s for s, _ in asked)
    end = asked.index((first, 20))
    assert asked[end:end + 20] == [pair for k in range(10) for pair in ((first, 20 + k), (second, k))]
    assert asked[:end] == [(first, i) for i in range(20)]
    assert asked[-20:] == [pair for k in range(10) for pair in ((second, 20 + k), (third, k))]


def test_growth_measures_turn_1_beside_the_end_of_a_conversation():
    from bench.http import growth

    calls = []

    def send(sender, i):
        # The machine slows down fourfold once the first conversation's first 20 turns are asked.
        calls.append(sender)
        return True, (0.001 if len(calls) <= 20 else 0.004)

    result = growth(send, conversations=2, turns=30, window=10)
    assert result["turn_1_p50_ms"] == result["turn_30_p50_ms"] == 4.0


def test_growth_refuses_a_conversation_too_short_for_a_first_and_a_last_window():
    from bench.http import growth

    with pytest.raises(ValueError):
        growth(lambda sender, i: (True, 0.001), conversations=1, turns=19, window=10)


def test_growth_is_a_target_of_the_benchmark_once_measured():
    from bench.run import growth_targets
    assert growth_targets({}) == []
    flat = {"turns": 500, "turn_1_p50_ms": 20.0, "turn_100_p50_ms": 21.0, "turn_500_p50_ms": 23.9}
    steep = dict(flat, turn_500_p50_ms=24.1)
    assert [ok for _, ok, _ in growth_targets(flat)] == [True]
    assert [ok for _, ok, _ in growth_targets(steep)] == [False]
    assert "1.21x" in growth_targets(steep)[0][2]


def test_the_production_layout_is_a_row_and_a_target_once_measured():
    from bench.run import layout_lines, layout_targets
    assert layout_targets({}) == [] and layout_lines({}, {}) == []
    one = {"p50_ms": 300.0, "p95_ms": 420.0, "throughput_per_s": 49.0, "rasa_cpu_ms_per_turn": 22.0,
           "errors": 0}
    lay = {"p50_ms": 90.0, "p95_ms": 140.0, "throughput_per_s": 80.0, "errors": 0,
           "rasa_0_cpu_ms_per_turn": 11.0, "rasa_1_cpu_ms_per_turn": 12.0, "actions_0_cpu_ms_per_turn": 1.0,
           "requests_per_server": [400, 402]}
    assert [ok for _, ok, _ in layout_targets(lay)] == [True]
    assert [ok for _, ok, _ in layout_targets(dict(lay, p95_ms=151.0))] == [False]
    row = layout_lines(lay, one)[-1]
    assert "90.0 / 140.0" in row and "11.0 / 12.0" in row and "[400, 402]" in row


def test_requests_per_server_counts_a_retried_request_for_both_servers(tmp_path):
    from bench.layout import requests_per_server
    log = tmp_path / "access.log"
    log.write_text("127.0.0.1:5005 200\n127.0.0.1:5006 200\n127.0.0.1:5005, 127.0.0.1:5006 200\n\n")
    assert requests_per_server(log) == {"127.0.0.1:5005": 2, "127.0.0.1:5006": 2}


def test_a_layout_that_could_not_be_measured_is_a_missed_target():
    from bench.run import layout_lines, layout_targets
    missing = {"not_measured": "FileNotFoundError: /usr/sbin/nginx"}
    assert [(ok, figure) for _, ok, figure in layout_targets(missing)] == \
        [(False, "not measured: FileNotFoundError: /usr/sbin/nginx")]
    assert layout_lines(missing, {}) == []


def test_the_results_name_how_fast_the_machine_ran_python_at_the_start_and_the_end():
    from bench.run import heading, loop_seconds
    run = {"date": "2026-11-29", "machine": "2 cores, x86_64, Python 3.10.13", "sizes": {"soak": 10}}
    assert heading(run) == "Measured 2026-11-29 on 2 cores, x86_64, Python 3.10.13 " \
                           "(`make bench`, sizes {'soak': 10})."
    timed = heading(dict(run, speed_loop_s={"start": 0.52, "end": 1.31}))
    assert "a Python loop of 10,000,000 additions took 0.52 s of CPU at the start and 1.31 s at the end" \
        in timed
    # A loop a hundred times longer takes longer: the figure is the loop's own CPU time.
    assert loop_seconds(2_000_000) > loop_seconds(20_000)
