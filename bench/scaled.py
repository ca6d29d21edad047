"""The assistant with a knowledge base several times the size of ours, for `make bench`: how
the turn's latency, the Rasa server's memory and the training time grow with it.

Each programme file of knowledge/ is repeated: copy k is a programme of its own (its id,
name and aliases marked "第k期"), with every entry of the original under new ids and aliases
("金融服务保障" → "金融服务保障第2期"). Tier rules, tables, the glossary and the replies
are defined once, as in ours. The copies enter everything the knowledge base feeds: the
jieba dictionary, the entity ruler's patterns, the lookup tables of the NLU training data
and the retrieval index of the action server.
"""
from __future__ import annotations

import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Tuple

import yaml

PROJECT = Path(__file__).resolve().parents[1]
# What training reads from the project, besides the knowledge base (bot/train.py INPUTS).
LINKED = ("config.yml", "domain.yml", "data", "bot", "core", "actions", "requirements.lock")
# A programme file's keys that are repeated; the others (tiers, benefits, tables, ...) are
# defined once.
REPEATED = ("programme", "entries")


def _marked(text: str, k: int) -> str:
    return f"{text}第{k}期"


def _entry_copy(entry: Mapping[str, Any], k: int) -> Dict[str, Any]:
    copy = dict(entry)
    copy["id"] = f"{entry['id']}_x{k}"
    copy["name"] = _marked(entry["name"], k)
    copy["aliases"] = [_marked(a, k) for a in entry.get("aliases") or []] or [copy["name"]]
    return copy


def scaled_knowledge(source: Path, target: Path, factor: int) -> Dict[str, int]:
    """Write `source` (a knowledge directory) into `target` with each programme file repeated
    `factor` times in all; returns the count of programmes and entries written."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    programmes = entries = 0
    for path in sorted(source.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not all(key in data for key in REPEATED):
            continue
        programmes += 1
        entries += len(data["entries"])
        for k in range(2, factor + 1):
            programme = dict(data["programme"])
            programme["id"] = f"{programme['id']}_x{k}"
            programme["name"] = _marked(programme["name"], k)
            programme["aliases"] = [_marked(a, k) for a in programme.get("aliases") or []]
            copy = {"programme": programme, "entries": [_entry_copy(e, k) for e in data["entries"]]}
            (target / f"{path.stem}_x{k}.yml").write_text(
                yaml.safe_dump(copy, allow_unicode=True, sort_keys=False), encoding="utf-8")
            programmes += 1
            entries += len(copy["entries"])
    return {"programmes": programmes, "entries": entries}


def scaled_project(out: Path, factor: int) -> Tuple[Path, Dict[str, int]]:
    """A project folder in `out` that trains like ours with the knowledge base `factor` times
    the size (the rest linked to ours)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = out / name
        if not link.exists():
            link.symlink_to(PROJECT / name)
    counts = scaled_knowledge(PROJECT / "knowledge", out / "knowledge", factor)
    return out, counts


@contextmanager
def serving(model: Path, env: Mapping[str, str], knowledge: Path, log_dir: Path) -> Iterator[Tuple[str, int]]:
    """`model` served with the action server on `knowledge`: the REST webhook's URL and the
    Rasa server's process id."""
    from bench.http import wait_answering
    from bot.serve import Servers, free_port

    servers = Servers(model, free_port(), free_port(), env=dict(env, KNOWLEDGE_DIR=str(knowledge)),
                      log_dir=log_dir, own_session=True).start()
    try:
        rest = f"http://127.0.0.1:{servers.rasa_port}/webhooks/rest/webhook"
        wait_answering(rest, 300)
        yield rest, servers.processes[1].pid
    finally:
        servers.stop()


def run(model: Path, env: Mapping[str, str], out: Path, questions: List[str], turns: int,
        rounds: int, factor: int = 10) -> Dict[str, Any]:
    """Ours and a knowledge base `factor` times the size: the training time of the larger one,
    then both served at once and measured in interleaved rounds at one conversation (p50),
    and the Rasa server's memory of each after them."""
    from bench.http import interleaved, load, post, rss_mib
    from bot import train

    project, counts = scaled_project(out / "project", factor)
    started = time.monotonic()
    scaled_model = train.train(out / "model", root=project, force=True)
    trained = time.monotonic() - started
    with serving(model, env, PROJECT / "knowledge", out / "logs-ours") as (ours_url, ours_pid), \
            serving(scaled_model, env, project / "knowledge", out / "logs-x") as (scaled_url, scaled_pid):
        def asking(url: str) -> Callable[[str, int], Tuple[bool, float]]:
            return lambda sender, i: post(url, {"sender": sender, "message": questions[i % len(questions)]})

        kinds = {"ours": asking(ours_url), "scaled": asking(scaled_url)}
        for kind in kinds.values():
            load(kind, 1, 32)  # warm-up
        measured = interleaved(kinds, 1, turns, rounds)
        memory = {"ours": rss_mib(ours_pid), "scaled": rss_mib(scaled_pid)}
    return {"factor": factor, **counts, "training_s": round(trained, 1),
            "ours_p50_ms": measured["ours"]["p50_ms"], "scaled_p50_ms": measured["scaled"]["p50_ms"],
            "ours_rasa_mib": memory["ours"], "scaled_rasa_mib": memory["scaled"],
            "errors": measured["ours"]["errors"] + measured["scaled"]["errors"]}
