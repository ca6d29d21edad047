"""`make bench`: speed and memory of the assistant beside stock Rasa, measured in one run.

Writes bench/results.json and bench/results.md and prints the targets met and missed. Every
comparison is a ratio within this run. `--quick` runs small sizes (to check the script).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

PROJECT = Path(__file__).resolve().parents[1]
OUT = PROJECT / "build" / "bench"
PROGRAMME = ["金牌每个月有几个橱窗?", "銀牌貸款打幾折?", "第15条是什么?", "询价单订阅V2和V3有什么区别?",
             "備貨貸最高多少?", "gold seller 橱窗几个", "金牌的好评率要多少?", "保理融资优惠还能申请吗"]
GREETING = "你好"
TIER = "查一下商家 M1003 的金银牌状态"
# Each kind's latency is measured in this many slices, taken in turn with the other kinds'.
ROUNDS = 4
# The knowledge base ten times ours against ours, one conversation each: slices of 10 turns
# taken in turn, so that a slower spell of the machine falls on both alike.
SCALED_ROUNDS = 20
# How fast the machine runs Python at the moment: the CPU seconds of a loop of this many
# additions, timed at the start and at the end of the run. A shared machine's speed changes
# between spells (2.5 times over one day here): the targets in milliseconds move with it, the
# ratios to stock Rasa within one run much less.
SPEED_LOOP = 10_000_000
PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = ("127.0.0.1", 6379)


def main(argv: List[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the script")
    args = parser.parse_args(argv)
    sizes = dict(turns_1=200, turns_16=800, soak=10_000, merchants=1_000_000, orm=50_000, growth=500)
    if args.quick:
        sizes = dict(turns_1=20, turns_16=64, soak=200, merchants=20_000, orm=1_000, growth=100)
    os.environ.setdefault("ASSISTANT_TODAY", "2026-11-22")
    from bench import batch, imports, layout, scaled, stages
    from bench.http import (
        StockServer,
        demo_environment,
        growth,
        interleaved,
        load,
        post,
        public,
        rss_mib,
        stock_project,
        train_stock,
        wait_answering,
    )
    from bot import train
    from bot.serve import Servers, free_port
    from core.identity import issue_token

    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    results: Dict[str, Any] = {"date": dt.date.today().isoformat(), "sizes": sizes,
                               "machine": f"{os.cpu_count()} cores, {platform.machine()}, "
                                          f"Python {platform.python_version()}",
                               "speed_loop_s": {"start": loop_seconds(SPEED_LOOP)}}

    print("training ours and stock …", flush=True)
    started = time.monotonic()
    model = train.train(OUT / "ours", force=True)
    trained = time.monotonic() - started
    before = model.stat().st_mtime_ns
    started = time.monotonic()
    train.train(OUT / "ours")  # unchanged inputs: must not train again
    check = time.monotonic() - started
    results["training"] = {"ours_s": round(trained, 1), "unchanged_check_s": round(check, 2),
                           "retrained_when_unchanged": model.stat().st_mtime_ns != before}
    stock_dir = stock_project(OUT / "stock")
    stock_model, stock_trained = train_stock(stock_dir)
    results["training"]["stock_s"] = round(stock_trained, 1)

    secret, token = "bench-secret", "bench-action-token"
    env = demo_environment(OUT, secret, token)

    ours = Servers(model, free_port(), free_port(), env=env, log_dir=OUT / "logs", own_session=True)
    stock = None
    try:
        started = time.monotonic()
        ours.start()
        rest = f"http://127.0.0.1:{ours.rasa_port}/webhooks/rest/webhook"
        desk_channel = f"http://127.0.0.1:{ours.rasa_port}/webhooks/merchant/webhook"
        wait_answering(rest, 300)
        results["start_to_first_answer_s"] = round(time.monotonic() - started, 1)
        stock = StockServer(stock_dir, stock_model, free_port(), OUT / "logs" / "stock.log")
        stock_started = time.monotonic()
        stock.wait_answering()
        results["stock_start_to_first_answer_s"] = round(time.monotonic() - stock_started, 1)
        stock_rest = f"http://127.0.0.1:{stock.port}/webhooks/rest/webhook"
        action_pid, rasa_pid = (p.pid for p in ours.processes)
        memory = {"rasa_start_mib": rss_mib(rasa_pid), "actions_start_mib": rss_mib(action_pid),
                  "stock_rasa_start_mib": rss_mib(stock.proc.pid)}

        agents: Dict[str, str] = {}

        def agent_token(sender: str) -> str:
            if sender not in agents:
                agents[sender] = issue_token(secret, f"agent-{sender}", "agent", dt.timedelta(hours=2))
            return agents[sender]

        kinds = {
            "programme": lambda s, i: post(rest, {"sender": s,
                                                  "message": PROGRAMME[i % len(PROGRAMME)]}),
            "tier_status": lambda s, i: post(desk_channel, {"message": TIER},
                                             {"Authorization": f"Bearer {agent_token(s)}"}),
            "greeting": lambda s, i: post(rest, {"sender": s, "message": GREETING}),
            "stock_greeting": lambda s, i: post(stock_rest, {"sender": s, "message": GREETING}),
            "stock_programme": lambda s, i: post(stock_rest, {"sender": s,
                                                              "message": PROGRAMME[i % len(PROGRAMME)]}),
        }
        latency: Dict[str, Any] = {name: {} for name in kinds}
        # CPU time per turn of the processes each kind keeps busy (read from /proc).
        watched = {name: ({"rasa": stock.proc.pid} if name.startswith("stock")
                          else {"rasa": rasa_pid, "actions": action_pid}) for name in kinds}
        for key, concurrency in (("c1", 1), ("c16", 16)):
            print(f"latency at {concurrency} conversations, {ROUNDS} interleaved rounds …", flush=True)
            for name, result in interleaved(kinds, concurrency, sizes[f"turns_{concurrency}"],
                                            ROUNDS, watched).items():
                latency[name][key] = public(result)
        results["latency"] = latency
        memory.update({"rasa_after_latency_mib": rss_mib(rasa_pid),
                       "actions_after_latency_mib": rss_mib(action_pid)})

        def mixed(s, i):
            return (kinds["programme"], kinds["greeting"], kinds["tier_status"])[i % 3](s, i)

        print(f"soak: {sizes['soak']} turns …", flush=True)
        results["soak"] = public(load(mixed, 16, sizes["soak"]))
        memory.update({"rasa_after_soak_mib": rss_mib(rasa_pid),
                       "actions_after_soak_mib": rss_mib(action_pid)})
        for server in ("rasa", "actions"):
            memory[f"{server}_growth_pct"] = round(
                (memory[f"{server}_after_soak_mib"] / memory[f"{server}_start_mib"] - 1) * 100, 1)
        results["memory"] = memory

        print("growth: turn 1, 100 and 500 of one conversation …", flush=True)
        results["growth"] = growth(kinds["programme"], turns=sizes["growth"])

        print("stages in process …", flush=True)
        results["stages"] = stages.run(model, f"http://127.0.0.1:{ours.action_port}/webhook", token,
                                       env["DATABASE_URL"])
    finally:
        if stock is not None:
            stock.stop()
        ours.stop()

    print("production layout: nginx, 2 Rasa servers, PostgreSQL trackers, Redis locks …", flush=True)
    try:
        results["layout"] = layout.measure(model, env, PG_ADMIN, REDIS, OUT / "layout", PROGRAMME, 16,
                                           sizes["turns_16"], ROUNDS)
    except Exception as e:  # noqa: BLE001 - reported as a missed target; the rest still runs
        results["layout"] = {"not_measured": f"{e.__class__.__name__}: {e}"}

    print("knowledge base 10x: training, latency and memory beside ours …", flush=True)
    results["scaled"] = scaled.run(model, env, OUT / "scaled", PROGRAMME, sizes["turns_1"],
                                   SCALED_ROUNDS)

    print(f"batch: {sizes['merchants']:,} merchants on SQLite and PostgreSQL …", flush=True)
    results["batch"] = batch.run(f"sqlite:///{OUT / 'batch.db'}", PG_ADMIN, sizes["merchants"], sizes["orm"])

    print("import: 100,000 and 1,000,000 rows on SQLite and PostgreSQL …", flush=True)
    results["imports"] = imports.run(OUT, PG_ADMIN)

    results["speed_loop_s"]["end"] = loop_seconds(SPEED_LOOP)
    results["targets"] = targets(results)
    write(results)
    return 0 if all(ok for _, ok, _ in results["targets"]) else 1


def loop_seconds(additions: int) -> float:
    """CPU seconds of a pure-Python loop of `additions` additions (see SPEED_LOOP)."""
    started = time.process_time()
    total = 0
    for i in range(additions):
        total += i
    return round(time.process_time() - started, 2)


def heading(r: Dict[str, Any]) -> str:
    """The first line of bench/results.md: when, on what, and how fast the machine ran."""
    speed = r.get("speed_loop_s") or {}
    loop = (f"; a Python loop of {SPEED_LOOP:,} additions took {speed['start']} s of CPU at the "
            f"start and {speed['end']} s at the end" if "end" in speed else "")
    return f"Measured {r['date']} on {r['machine']}{loop} (`make bench`, sizes {r['sizes']})."


def targets(r: Dict[str, Any]) -> List[Tuple[str, bool, str]]:
    """Each target of the benchmark issue, met or missed, with the figures behind it."""
    lat, mem, st, b = r["latency"], r["memory"], r["stages"], r["batch"]
    programme_p50, stock_greet_p50 = lat["programme"]["c1"]["p50_ms"], lat["stock_greeting"]["c1"]["p50_ms"]
    errors = sum(v[c]["errors"] for v in lat.values() for c in ("c1", "c16")) + r["soak"]["errors"]
    errors += (r.get("layout") or {}).get("errors", 0) + (r.get("scaled") or {}).get("errors", 0)
    throughput = lat["programme"]["c16"]["throughput_per_s"]
    stock_throughput = lat["stock_programme"]["c16"]["throughput_per_s"]
    cpu = lat["programme"]["c16"].get("rasa_cpu_ms_per_turn")
    rows = [
        ("programme p50 <= 1.5x stock greeting p50", programme_p50 <= 1.5 * stock_greet_p50,
         f"{programme_p50} ms vs {stock_greet_p50} ms = {programme_p50 / stock_greet_p50:.2f}x"),
        ("programme p95 at 16 conversations <= 150 ms", lat["programme"]["c16"]["p95_ms"] <= 150,
         f"{lat['programme']['c16']['p95_ms']} ms"),
        ("zero errors", errors == 0, f"{errors} errors"),
        ("throughput at 16 >= 1.5x stock's programme turns", throughput >= 1.5 * stock_throughput,
         f"{throughput}/s vs stock {stock_throughput}/s = {throughput / stock_throughput:.2f}x"),
        ("Rasa CPU per programme turn at 16 <= 10 ms", cpu is not None and cpu <= 10,
         f"{cpu} ms (stock: {lat['stock_programme']['c16'].get('rasa_cpu_ms_per_turn')} ms)"),
        *growth_targets(r.get("growth") or {}),
        *layout_targets(r.get("layout") or {}),
        *scaled_targets(r.get("scaled") or {}, r["training"]["ours_s"]),
        ("Rasa server memory <= 1.0 GB", mem["rasa_after_soak_mib"] <= 1024,
         f"{mem['rasa_after_soak_mib']} MiB"),
        ("action server memory <= 250 MB", mem["actions_after_soak_mib"] <= 250,
         f"{mem['actions_after_soak_mib']} MiB"),
        ("memory growth after the soak <= 5%", max(mem["rasa_growth_pct"], mem["actions_growth_pct"]) <= 5,
         f"Rasa {mem['rasa_growth_pct']}%, actions {mem['actions_growth_pct']}%"),
        ("normalise + tokenise <= 0.3 ms", st["normalise_plus_tokenise_ms"] <= 0.3,
         f"{st['normalise_plus_tokenise_ms']} ms"),
        ("training <= 3 minutes", r["training"]["ours_s"] <= 180, f"{r['training']['ours_s']} s"),
        ("start to first answer <= 20 s", r["start_to_first_answer_s"] <= 20,
         f"{r['start_to_first_answer_s']} s"),
        ("unchanged project does not retrain", not r["training"]["retrained_when_unchanged"],
         f"check took {r['training']['unchanged_check_s']} s"),
        ("batch <= 60 s on SQLite", b["sqlite"]["assess_s"] <= 60, f"{b['sqlite']['assess_s']} s"),
        ("batch <= 60 s on PostgreSQL", b["postgresql"]["assess_s"] <= 60,
         f"{b['postgresql']['assess_s']} s"),
        (">= 20x faster per merchant than the ORM loop", b["batch_vs_orm_per_merchant"] >= 20,
         f"{b['batch_vs_orm_per_merchant']}x"),
        (f"tier alerts for {b['merchants']:,} merchants, 5% changed, <= 60 s on PostgreSQL",
         b["postgresql"]["watch"]["watch_s"] <= 60,
         f"{b['postgresql']['watch']['watch_s']} s, {b['postgresql']['watch']['alerts']:,} alerts"),
    ]
    rows += import_targets(r.get("imports") or {})
    return rows


def growth_targets(g: Dict[str, Any]) -> List[Tuple[str, bool, str]]:
    """Turn 500 of a conversation against turn 1 (none before growth was measured)."""
    if not g:
        return []
    first, last = g["turn_1_p50_ms"], g[f"turn_{g['turns']}_p50_ms"]
    return [(f"turn {g['turns']} of a conversation p50 <= 1.2x turn 1", last <= 1.2 * first,
             f"{last} ms vs {first} ms = {last / first:.2f}x (turn 100: {g['turn_100_p50_ms']} ms)")]


def layout_targets(lay: Dict[str, Any]) -> List[Tuple[str, bool, str]]:
    """The production layout's latency (none before it was measured)."""
    if not lay:
        return []
    if "not_measured" in lay:
        return [("production layout: programme p95 at 16 <= 150 ms", False,
                 f"not measured: {lay['not_measured']}")]
    return [("production layout: programme p95 at 16 <= 150 ms", lay["p95_ms"] <= 150,
             f"{lay['p95_ms']} ms, {lay['errors']} errors, {lay['throughput_per_s']}/s")]


def scaled_targets(sc: Dict[str, Any], ours_training_s: float) -> List[Tuple[str, bool, str]]:
    """A knowledge base `factor` times ours against ours (none before it was measured)."""
    if not sc:
        return []
    x = sc["factor"]
    p50, mib = sc["scaled_p50_ms"] / sc["ours_p50_ms"], sc["scaled_rasa_mib"] / sc["ours_rasa_mib"]
    training = sc["training_s"] / ours_training_s
    return [
        (f"knowledge base {x}x: p50 <= 1.2x", p50 <= 1.2,
         f"{sc['scaled_p50_ms']} ms vs {sc['ours_p50_ms']} ms = {p50:.2f}x"),
        (f"knowledge base {x}x: Rasa memory <= 1.1x", mib <= 1.1,
         f"{sc['scaled_rasa_mib']} MiB vs {sc['ours_rasa_mib']} MiB = {mib:.2f}x"),
        (f"knowledge base {x}x: training <= 2x", training <= 2,
         f"{sc['training_s']} s vs {ours_training_s} s = {training:.2f}x"),
    ]


def layout_lines(lay: Dict[str, Any], one: Dict[str, Any]) -> List[str]:
    """The production layout beside one Rasa server, programme turns at 16 conversations."""
    if not lay or "not_measured" in lay:
        return []
    cpu = " / ".join(str(lay[k]) for k in sorted(lay)
                     if k.startswith("rasa_") and k.endswith("_cpu_ms_per_turn"))
    return ["", "| programme turns at 16 | p50 / p95 ms | turns/s | "
                "Rasa CPU ms per turn (each server's share) | errors |",
            "|---|---|---|---|---|",
            f"| one Rasa server (SQLite, in-process locks) | {one['p50_ms']} / {one['p95_ms']} | "
            f"{one['throughput_per_s']} | {one.get('rasa_cpu_ms_per_turn')} | {one['errors']} |",
            f"| nginx, 2 Rasa servers (PostgreSQL, Redis locks), requests per server (warm-up "
            f"included) {lay['requests_per_server']} | "
            f"{lay['p50_ms']} / {lay['p95_ms']} | {lay['throughput_per_s']} | {cpu} | {lay['errors']} |"]


def growth_lines(g: Dict[str, Any]) -> List[str]:
    """Latency at turn 1, 100 and 500 of one conversation."""
    if not g:
        return []
    return ["", f"| one conversation of {g['turns']} turns ({g['conversations']} of them) | p50 ms |",
            "|---|---|", *(f"| turn {m} | {g[f'turn_{m}_p50_ms']} |" for m in (1, 100, g["turns"]))]


def import_targets(im: Dict[str, Any]) -> List[Tuple[str, bool, str]]:
    """The import's targets: a million rows within a minute, memory independent of the size."""
    rows: List[Tuple[str, bool, str]] = []
    for name in ("sqlite", "postgresql"):
        if f"{name}_1000000" not in im or f"{name}_100000" not in im:
            continue
        big, small = im[f"{name}_1000000"]["first"], im[f"{name}_100000"]["first"]
        again = im[f"{name}_1000000"]["reimport"]["seconds"]
        rows += [(f"import of 1,000,000 rows <= 60 s on {name}",
                  big["seconds"] <= 60 and again <= 60 and big["errors"] == 0,
                  f"{big['seconds']} s (re-import {again} s)"),
                 (f"import peak memory does not grow with the file ({name})",
                  big["peak_rss_mib"] <= 1.2 * small["peak_rss_mib"],
                  f"{small['peak_rss_mib']} MiB for 100k rows, {big['peak_rss_mib']} MiB for 1M")]
    return rows


def import_lines(im: Dict[str, Any]) -> List[str]:
    """The import's rows of the figures table."""
    lines = []
    for key, v in sorted(im.items()):
        name, rows = key.rsplit("_", 1)
        first, again = v["first"], v["reimport"]
        lines.append(f"| metrics import, {int(rows):,} rows, {name}: first / again, peak RSS | "
                     f"{first['seconds']} s / {again['seconds']} s, {first['peak_rss_mib']} MiB |")
    return lines


def write(r: Dict[str, Any]) -> None:
    """bench/results.json and the Markdown table docs/measurements.md quotes."""
    bench = PROJECT / "bench"
    (bench / "results.json").write_text(json.dumps(r, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    lat = r["latency"]
    lines = [heading(r), "",
             "| per turn over HTTP | c=1 p50 / p95 / p99 ms | c=16 p50 / p95 / p99 ms | c=16 turns/s "
             "| CPU ms per turn at 16, Rasa / actions | errors |",
             "|---|---|---|---|---|---|"]
    for name, v in lat.items():
        c1, c16 = v["c1"], v["c16"]
        used = " / ".join(str(c16[k]) for k in ("rasa_cpu_ms_per_turn", "actions_cpu_ms_per_turn")
                          if k in c16)
        lines.append(f"| {name.replace('_', ' ')} | {c1['p50_ms']} / {c1['p95_ms']} / {c1['p99_ms']} | "
                     f"{c16['p50_ms']} / {c16['p95_ms']} / {c16['p99_ms']} | {c16['throughput_per_s']} | "
                     f"{used} | {c1['errors'] + c16['errors']} |")
    st, mem, b, t = r["stages"], r["memory"], r["batch"], r["training"]
    lines += ["", "| stage of one turn, in process | median ms |", "|---|---|"]
    lines += [f"| {k.replace('_ms', '').replace('_', ' ')} | {v} |" for k, v in st.items()]
    lines += ["", "| other | figure |", "|---|---|",
              f"| training, ours / stock | {t['ours_s']} s / {t['stock_s']} s |",
              f"| unchanged project: training skipped | {not t['retrained_when_unchanged']} "
              f"({t['unchanged_check_s']} s) |",
              f"| start to first answer, ours / stock | {r['start_to_first_answer_s']} s / "
              f"{r['stock_start_to_first_answer_s']} s |",
              f"| Rasa server memory, start → after the latency runs → after {r['soak']['turns']} more "
              f"turns | {mem['rasa_start_mib']} → {mem['rasa_after_latency_mib']} → "
              f"{mem['rasa_after_soak_mib']} MiB ({mem['rasa_growth_pct']}% from start) |",
              f"| action server memory, the same points | {mem['actions_start_mib']} → "
              f"{mem['actions_after_latency_mib']} → {mem['actions_after_soak_mib']} MiB "
              f"({mem['actions_growth_pct']}% from start) |",
              f"| stock Rasa server memory at start | {mem['stock_rasa_start_mib']} MiB |",
              f"| soak: {r['soak']['turns']} turns at 16 conversations | {r['soak']['errors']} errors, "
              f"p95 {r['soak']['p95_ms']} ms |",
              f"| batch, {b['merchants']:,} merchants, SQLite / PostgreSQL | {b['sqlite']['assess_s']} s / "
              f"{b['postgresql']['assess_s']} s |",
              f"| tier watch, {b['merchants']:,} merchants: first run / after 5% changed "
              f"({b['postgresql']['watch']['changed_merchants']:,}), SQLite / PostgreSQL | "
              f"{b['sqlite']['watch']['baseline_s']} s / {b['sqlite']['watch']['watch_s']} s "
              f"({b['sqlite']['watch']['alerts']:,} alerts); {b['postgresql']['watch']['baseline_s']} s / "
              f"{b['postgresql']['watch']['watch_s']} s ({b['postgresql']['watch']['alerts']:,} alerts) |",
              f"| per-merchant ORM loop ({b['orm_loop_sqlite']['merchants']:,}, SQLite) vs batch | "
              f"{b['orm_loop_sqlite']['per_merchant_us']} µs vs {b['sqlite']['per_merchant_us']} µs = "
              f"{b['batch_vs_orm_per_merchant']}x |",
              ]
    lines += import_lines(r.get("imports") or {})  # rows of the table above
    lines += layout_lines(r.get("layout") or {}, r["latency"]["programme"]["c16"])
    lines += growth_lines(r.get("growth") or {})
    if r.get("scaled"):
        sc = r["scaled"]
        lines += ["", "| knowledge base | programmes / entries | training s | p50 ms at 1 | Rasa MiB |",
                  "|---|---|---|---|---|",
                  f"| ours | {sc['programmes'] // sc['factor']} / {sc['entries'] // sc['factor']} | "
                  f"{r['training']['ours_s']} | {sc['ours_p50_ms']} | {sc['ours_rasa_mib']} |",
                  f"| {sc['factor']}x | {sc['programmes']} / {sc['entries']} | {sc['training_s']} | "
                  f"{sc['scaled_p50_ms']} | {sc['scaled_rasa_mib']} |"]
    lines += ["", "| target | met | figure |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if ok else '**no**'} | {figure} |" for name, ok, figure in r["targets"]]
    (bench / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
