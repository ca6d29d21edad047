"""Train the model only when its inputs changed: `python -m bot.train [--force]`.

The inputs are the config, the domain, the training data (hand-written and generated), the
jieba dictionary and our NLU components; their SHA-256 is stored next to the model. The
generated inputs are brought up to date from `knowledge/` first, so that every way of training
(`make model`, `python -m bot.evaluate_answers`, ...) sees the knowledge base as it is.
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, List

from core import settings
from core.settings import PROJECT

MODEL_NAME = "assistant"
INPUTS = ("config.yml", "domain.yml", "domain", "data", "build/data", "build/jieba", "build/entities",
          "bot/nlu", "core/script.py",
          "requirements.lock")
# Read by the Rasa server only, when it serves a model (bot/rasa_server.py installs it); the
# model it serves is the same, so a change to it does not call for training again.
SERVING_ONLY = ("bot/nlu/inference.py",)


def _files(root: Path, names: Iterable[str]) -> List[Path]:
    skipped = {root / name for name in SERVING_ONLY}
    found: List[Path] = []
    for name in names:
        path = root / name
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found += sorted(p for p in path.rglob("*")
                            if p.is_file() and "__pycache__" not in p.parts)
    return [path for path in found if path not in skipped]


def fingerprint(root: Path = PROJECT) -> str:
    """SHA-256 over the names and contents of every training input."""
    digest = hashlib.sha256()
    for path in _files(root, INPUTS):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def train(out: Path, root: Path = PROJECT, force: bool = False) -> Path:
    """Train into `out` unless a model with the same input fingerprint is already there."""
    out = Path(out)
    model = out / f"{MODEL_NAME}.tar.gz"
    stamp = out / f"{MODEL_NAME}.fingerprint"
    if (root / "knowledge").is_dir():
        from bot import artefacts  # loads the knowledge base: only when there is one
        artefacts.build(root / "knowledge", root / "build")
    current = fingerprint(root)
    if not force and model.exists() and stamp.exists() and stamp.read_text().strip() == current:
        print(f"model {model} is up to date; not retraining")
        return model
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # --force: our fingerprint decides whether to train; Rasa's cache does not see the
    # content of the jieba dictionary, so it must not reuse a stale tokenizer.
    cmd = [sys.executable, "-m", "rasa", "train", "--config", "config.yml",
           "--domain", "domain.yml", "--data", "data", "build/data",
           "--out", str(out), "--fixed-model-name", MODEL_NAME, "--force"]
    # Rasa's training cache goes next to the model, never into the working tree.
    env = dict(settings.environment(), PYTHONPATH=str(root), RASA_CACHE_DIRECTORY=str(out / ".cache"))
    subprocess.run(cmd, cwd=root, env=env, check=True)
    stamp.write_text(current + "\n")
    print(f"trained {model} in {time.monotonic() - started:.1f} s")
    return model


def main(argv: List[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROJECT / "models")
    parser.add_argument("--force", action="store_true", help="train even if nothing changed")
    args = parser.parse_args(argv)
    try:
        train(args.out, force=args.force)
    except subprocess.CalledProcessError as e:
        print(f"error: training failed (exit {e.returncode})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
