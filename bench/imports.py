"""The daily metrics import at platform scale: generated exports of 100,000 and 1,000,000 rows
imported on SQLite and PostgreSQL, each import in a process of its own so that its peak
resident memory is its alone (`python -m bench.imports [ROWS...]` runs it without the rest of
`make bench`)."""
from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Sequence

from sqlalchemy import create_engine, text

from core.db.imports import METRICS_COLUMNS
from core.settings import PROJECT

SIZES = (100_000, 1_000_000)
TIERS = ("gold", "silver", "none")


def write_export(path: Path, rows: int, seed: int = 11) -> Path:
    """An export of `rows` valid rows, as the platform writes it (deterministic)."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        out.write(",".join(METRICS_COLUMNS) + "\n")
        for i in range(rows):
            out.write(f"I{i:08d},店铺{i},类目{i % 40:02d},2026-11-21,1,{rng.uniform(1, 60):.1f},"
                      f"{rng.uniform(70, 99):.1f},{rng.uniform(0, 3):.2f},{rng.uniform(85, 99):.1f},"
                      f"{rng.randint(0, 90)},0,{rng.randint(0, 3)},0,0,1,,{TIERS[i % 3]}\n")
    return path


def _one(url: str, path: Path) -> Dict[str, Any]:
    """Import once in this process: seconds, rows imported, peak RSS."""
    from core.db.imports import import_metrics
    from core.db.migrate import upgrade
    from core.db.session import make_engine, make_session_factory

    upgrade(url)
    engine = make_engine(url)
    started = time.perf_counter()
    report = import_metrics(make_session_factory(engine), path)
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"seconds": round(seconds, 1), "rows": report.rows, "imported": report.imported,
            "errors": len(report.errors),
            "peak_rss_mib": peak_rss_mib()}


def peak_rss_mib() -> int:
    """This process's peak resident memory since it started (VmHWM). Not getrusage: on Linux
    its ru_maxrss carries over the high-water mark of the process that forked this one (the
    benchmark, which trains a model in process), so every import would report the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return 0


def _in_process(url: str, path: Path) -> Dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "bench.imports", "--one", url, str(path)],
                          cwd=PROJECT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _settle(admin: Any) -> None:
    """Each import starts from the same state of the PostgreSQL server: the writes before it
    (the batch's million merchants, the previous import) flushed to disk by a CHECKPOINT, not
    flushed during it. Needs a superuser (PG_ADMIN is one); without, the import runs as it is."""
    try:
        with admin.begin() as c:
            c.execute(text("CHECKPOINT"))
    except Exception as e:  # noqa: BLE001 - a server that refuses is measured as it is
        print(f"  (no CHECKPOINT before the import: {e.__class__.__name__})", flush=True)


def run(folder: Path, pg_admin: str, sizes: Sequence[int] = SIZES) -> Dict[str, Any]:
    """Each size on each database: a first import, then the same file again (all updates)."""
    results: Dict[str, Any] = {}
    admin = create_engine(pg_admin, future=True)
    for rows in sizes:
        export = write_export(folder / f"export_{rows}.csv", rows)
        db = folder / f"import_{rows}.db"
        db.unlink(missing_ok=True)
        schema = f"imp_{uuid.uuid4().hex[:8]}"
        with admin.begin() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            for name, url in (("sqlite", f"sqlite:///{db}"),
                              ("postgresql", f"{pg_admin}?options=-csearch_path%3D{schema}")):
                _settle(admin)
                first = _in_process(url, export)
                _settle(admin)
                again = _in_process(url, export)
                results[f"{name}_{rows}"] = {"first": first, "reimport": again}
                print(f"  import {rows:,} rows on {name}: {first['seconds']} s "
                      f"(re-import {again['seconds']} s), peak RSS {first['peak_rss_mib']} MiB", flush=True)
        finally:
            with admin.begin() as c:
                c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            export.unlink(missing_ok=True)
            db.unlink(missing_ok=True)
    admin.dispose()
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(_one(sys.argv[2], Path(sys.argv[3]))))
    else:
        from bench.run import OUT, PG_ADMIN

        OUT.mkdir(parents=True, exist_ok=True)
        counts = [int(a) for a in sys.argv[1:]] or list(SIZES)
        print(json.dumps(run(OUT, PG_ADMIN, counts), indent=1))
