"""The knowledge base made several times larger for `make bench` (bench/scaled.py)."""
from __future__ import annotations

from bench.run import scaled_targets
from bench.scaled import PROJECT, scaled_knowledge
from bot import artefacts
from core.knowledge.loader import load_knowledge


def test_a_knowledge_base_three_times_ours_loads_with_three_times_the_entries(tmp_path):
    ours = load_knowledge(PROJECT / "knowledge")
    counts = scaled_knowledge(PROJECT / "knowledge", tmp_path / "knowledge", 3)
    scaled = load_knowledge(tmp_path / "knowledge")  # ids and aliases all distinct, or it fails
    # The programme files' entries, three times; the few defined elsewhere (tier rules, ...) once.
    repeated = counts["entries"] // 3
    assert counts["entries"] == 3 * repeated and repeated > len(ours.entries) // 2
    assert len(scaled.entries) == len(ours.entries) + 2 * repeated
    assert counts["programmes"] == len(scaled.programmes) == 3 * len(ours.programmes)
    copy = next(e for e in scaled.entries.values() if e.id.endswith("_x3"))
    original = ours.entries[copy.id[:-3]]
    assert copy.answer == original.answer and copy.name == f"{original.name}第3期"
    # Everything the knowledge base feeds grows with it.
    built = artefacts.build(tmp_path / "knowledge", tmp_path / "build")
    ours_dict = (PROJECT / "build" / "jieba" / "userdict.txt")
    if ours_dict.exists():
        assert len((tmp_path / "build/jieba/userdict.txt").read_text().splitlines()) > \
            1.5 * len(ours_dict.read_text().splitlines())
    assert all(path.exists() for path in built)


def test_the_larger_knowledge_base_is_three_targets_once_measured():
    assert scaled_targets({}, 200.0) == []
    measured = {"factor": 10, "programmes": 30, "entries": 490, "training_s": 300.0,
                "ours_p50_ms": 20.0, "scaled_p50_ms": 23.0, "ours_rasa_mib": 1000.0,
                "scaled_rasa_mib": 1150.0}
    assert [ok for _, ok, _ in scaled_targets(measured, 200.0)] == [True, False, True]
    assert [ok for _, ok, _ in scaled_targets(dict(measured, training_s=401.0), 200.0)][2] is False
