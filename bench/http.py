"""Per-turn latency, throughput and memory over HTTP, ours beside a stock Rasa assistant."""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import yaml

PROJECT = Path(__file__).resolve().parents[1]
Request = Callable[[str], Tuple[bool, float]]
TURNS_PER_CONVERSATION = 10


def rss_mib(pid: int) -> float:
    """Resident memory of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def post(url: str, body: Dict[str, Any], headers: Optional[Dict[str, str]] = None,
         timeout: float = 60) -> Tuple[bool, float]:
    """(answered, seconds): a 200 with at least one non-empty reply counts as answered."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json", **(headers or {})})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            replies = json.loads(response.read())
            ok = response.status == 200 and any(r.get("text") for r in replies)
    except Exception:  # noqa: BLE001 - counted as an error
        ok = False
    return ok, time.perf_counter() - started


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def load(send: Callable[[str, int], Tuple[bool, float]], concurrency: int, total: int) -> Dict[str, Any]:
    """`total` turns from `concurrency` conversations at once; latency percentiles in ms."""
    per_worker = max(1, total // concurrency)
    latencies: List[float] = []
    errors = 0
    lock = threading.Lock()

    def worker(w: int) -> None:
        nonlocal errors
        sender = ""
        for i in range(per_worker):
            if i % TURNS_PER_CONVERSATION == 0:
                # Merchants' conversations are short; the tracker (sent to the action server
                # with every call) would otherwise grow without end over the run.
                sender = f"bench-{uuid.uuid4().hex[:10]}"
            ok, seconds = send(sender, i)
            with lock:
                latencies.append(seconds)
                errors += 0 if ok else 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    wall = time.perf_counter() - started
    return summary(concurrency, [s * 1000 for s in latencies], errors, wall)


def summary(concurrency: int, ms: List[float], errors: int, wall: float) -> Dict[str, Any]:
    """Percentiles and throughput of a set of turns (`ms` and `wall` kept for merging)."""
    return {"concurrency": concurrency, "turns": len(ms), "errors": errors,
            "p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
            "p99_ms": round(percentile(ms, 99), 1), "mean_ms": round(statistics.mean(ms), 1),
            "throughput_per_s": round(len(ms) / wall, 1), "ms": ms, "wall_s": wall}


def merged(parts: List[Dict[str, Any]]) -> Dict[str, Any]:
    """One summary of several runs of the same kind (their turns pooled, their times added)."""
    return summary(parts[0]["concurrency"], [m for p in parts for m in p["ms"]],
                   sum(p["errors"] for p in parts), sum(p["wall_s"] for p in parts))


def interleaved(kinds: Dict[str, Callable[[str, int], Tuple[bool, float]]], concurrency: int,
                total: int, rounds: int,
                pids: Optional[Dict[str, Dict[str, int]]] = None) -> Dict[str, Dict[str, Any]]:
    """Each kind measured in `rounds` slices taken in turn (the order rotating each round), so
    that a busy or quiet spell of the machine falls on every kind alike, not on one.

    `pids`: for a kind, the server processes ({"rasa": pid, ...}) whose CPU time per turn is
    added to its summary as `<name>_cpu_ms_per_turn` (bench/cpu.py)."""
    from bench.cpu import cpu_seconds

    names = list(kinds)
    parts: Dict[str, List[Dict[str, Any]]] = {name: [] for name in names}
    cpu: Dict[str, Dict[str, float]] = {name: {} for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            watched = (pids or {}).get(name, {})
            before = {process: cpu_seconds(pid) for process, pid in watched.items()}
            parts[name].append(load(kinds[name], concurrency, max(concurrency, total // rounds)))
            for process, pid in watched.items():
                cpu[name][process] = cpu[name].get(process, 0.0) + cpu_seconds(pid) - before[process]
    results = {name: merged(p) for name, p in parts.items()}
    for name, used in cpu.items():
        for process, seconds in used.items():
            turns = results[name]["turns"] or 1
            results[name][f"{process}_cpu_ms_per_turn"] = round(seconds * 1000 / turns, 2)
    return results


def public(result: Dict[str, Any]) -> Dict[str, Any]:
    """A summary without the raw latencies (for results.json)."""
    return {k: v for k, v in result.items() if k not in ("ms", "wall_s")}


def stock_project(out: Path) -> Path:
    """Stock Rasa: the same NLU data, its stock Chinese pipeline, domain responses only."""
    out.mkdir(parents=True, exist_ok=True)
    ours = yaml.safe_load((PROJECT / "domain.yml").read_text(encoding="utf-8"))
    replies = {"greet": "utter_greet", "goodbye": "utter_goodbye", "thank": "utter_thank",
               "out_of_scope": "utter_out_of_scope", "ask_programme": "utter_ask_which_programme",
               "ask_capabilities": "utter_capabilities", "start_over": "utter_restart"}
    responses = {name: [{"text": v[0]["text"]}] for name, v in ours["responses"].items()
                 if name in replies.values() or name == "utter_default"}
    rules = []
    for intent in ours["intents"]:
        name = replies.get(intent, "utter_default")
        rules.append({"rule": intent, "steps": [{"intent": intent}, {"action": name}]})
    domain = {"version": "3.1", "intents": ours["intents"], "entities": ours["entities"],
              "responses": responses}
    (out / "domain.yml").write_text(yaml.safe_dump(domain, allow_unicode=True), encoding="utf-8")
    (out / "rules.yml").write_text(yaml.safe_dump({"version": "3.1", "rules": rules},
                                                  allow_unicode=True), encoding="utf-8")
    (out / "credentials.yml").write_text("rest:\n", encoding="utf-8")
    (out / "endpoints.yml").write_text(
        f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {out / 'trackers.db'}\n",
        encoding="utf-8")
    return out


def train_stock(out: Path) -> Tuple[Path, float]:
    """Train the stock assistant; (model, seconds)."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "rasa", "train", "--config", "config.stock.yml",
                    "--domain", str(out / "domain.yml"), "--data", "data/nlu", "build/data",
                    str(out / "rules.yml"), "--out", str(out), "--fixed-model-name", "stock",
                    "--force"], cwd=PROJECT, check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, PYTHONPATH=str(PROJECT),
                            RASA_CACHE_DIRECTORY=str(out / ".cache")))
    return out / "stock.tar.gz", time.monotonic() - started


class StockServer:
    """`rasa run` of the stock assistant."""

    def __init__(self, project: Path, model: Path, port: int, log: Path) -> None:
        self.port = port
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rasa", "run", "--model", str(model), "--port", str(port),
             "--credentials", str(project / "credentials.yml"),
             "--endpoints", str(project / "endpoints.yml")],
            cwd=PROJECT, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONPATH=str(PROJECT)))

    def wait_answering(self, timeout: float = 300) -> float:
        return wait_answering(f"http://127.0.0.1:{self.port}/webhooks/rest/webhook", timeout, self.proc)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wait_answering(url: str, timeout: float, proc: Optional[subprocess.Popen] = None) -> float:
    """Seconds until the REST channel answers "你好"."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode})")
        ok, _ = post(url, {"sender": "bench-ready", "message": "你好"}, timeout=5)
        if ok:
            return time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer in {timeout:.0f} s")


def copy_tree(src: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst


# Turns of a conversation timed together at its start and at its end (`growth`).
GROWTH_WINDOW = 10


def growth(send: Callable[[str, int], Tuple[bool, float]], conversations: int = 3, turns: int = 500,
           window: int = GROWTH_WINDOW) -> Dict[str, Any]:
    """Latency as one conversation grows: `conversations` conversations of `turns` turns each,
    one after the other, each next one begun while the one before asks its last `window` turns
    (a turn of each in alternation), so that the end of a conversation and the start of a new
    one are measured in the same seconds, whatever the machine's speed does meanwhile (a last
    conversation of `window` turns is begun beside the end of the last long one).

    The p50 of the `window` turns up to turn 1 (those begun beside an ending conversation), 100
    and `turns` (pooled over the conversations), in ms, and the errors."""
    if turns < 2 * window:
        raise ValueError(f"a conversation of {turns} turns has no separate first and last {window}")
    steps: List[Tuple[int, int]] = []
    for c in range(conversations):
        steps += [(c, i) for i in range(window if c else 0, turns - window)]
        for k in range(window):
            steps += [(c, turns - window + k), (c + 1, k)]
    senders = [f"growth-{c}-{uuid.uuid4().hex[:8]}" for c in range(conversations + 1)]
    at: Dict[int, List[float]] = {1: [], 100: [], turns: []}
    errors = 0
    for c, i in steps:
        ok, seconds = send(senders[c], i)
        errors += 0 if ok else 1
        for mark in at:
            # The window that ends at turn `mark` (turn 1: the first `window` turns).
            if max(0, mark - window) <= i < max(mark, window) and (mark != 1 or c > 0):
                at[mark].append(seconds * 1000)
    return {"turns": turns, "conversations": conversations, "errors": errors,
            **{f"turn_{mark}_p50_ms": round(percentile(ms, 50), 1) for mark, ms in at.items()}}


def demo_environment(out: Path, secret: str, token: str) -> Dict[str, str]:
    """The servers' environment for a benchmark in `out`: a SQLite tracker store and a demo
    merchants database there (migrated and seeded), fresh secrets, no rate limits (the
    benchmark's clients all call from 127.0.0.1), nothing inherited that points elsewhere."""
    from core.db.demo import seed_demo
    from core.db.migrate import upgrade
    from core.db.session import make_engine, make_session_factory
    from core.limits import UNLIMITED

    url = f"sqlite:///{out / 'merchants.db'}"
    upgrade(url)
    seed_demo(make_session_factory(make_engine(url)))
    env = {k: v for k, v in os.environ.items()
           if k not in ("ACTION_ENDPOINT_URL", "TRACKER_STORE_URL", "LOCK_STORE_TYPE", "RASA_API_TOKEN")}
    env.update({"TRACKER_STORE_DB": str(out / "trackers.db"), "DATABASE_URL": url,
                "ASSISTANT_JWT_SECRET": secret, "ACTION_SERVER_TOKEN": token, **UNLIMITED})
    return env
