"""The import benchmark's export generator and its targets (no timing here: `make bench` times)."""
from __future__ import annotations

from bench.imports import write_export
from bench.run import import_lines, import_targets
from core.db.imports import import_metrics
from core.db.migrate import upgrade
from core.db.session import make_engine, make_session_factory


def test_the_generated_export_is_valid_and_imports_whole(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    report = import_metrics(make_session_factory(make_engine(url)), write_export(tmp_path / "e.csv", 300))
    assert (report.rows, report.imported, report.errors) == (300, 300, [])


def _measured(seconds, peak_small, peak_big):
    def one(s, peak):
        return {"seconds": s, "rows": 1, "imported": 1, "errors": 0, "peak_rss_mib": peak}
    return {"sqlite_100000": {"first": one(3, peak_small), "reimport": one(2, peak_small)},
            "sqlite_1000000": {"first": one(seconds, peak_big), "reimport": one(seconds, peak_big)}}


def test_the_targets_are_a_minute_and_memory_independent_of_the_size():
    met = import_targets(_measured(30, 58, 60))
    assert [(name, ok) for name, ok, _ in met] == [
        ("import of 1,000,000 rows <= 60 s on sqlite", True),
        ("import peak memory does not grow with the file (sqlite)", True)]
    missed = import_targets(_measured(61, 58, 300))
    assert [ok for _, ok, _ in missed] == [False, False]
    assert import_targets({}) == []
    assert import_lines(_measured(30, 58, 60))[1] == \
        "| metrics import, 1,000,000 rows, sqlite: first / again, peak RSS | 30 s / 30 s, 60 MiB |"


def test_an_imports_peak_memory_is_its_own_not_the_forking_benchmarks():
    import subprocess
    import sys
    from pathlib import Path

    held = bytearray(300 * 1024 * 1024)  # the benchmark process holds 300 MiB when it forks
    for i in range(0, len(held), 4096):
        held[i] = 1
    code = "from bench.imports import peak_rss_mib; print(peak_rss_mib())"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           cwd=Path(__file__).resolve().parents[2])
    assert 0 < int(child.stdout) < 200
