"""The model is retrained only when one of its inputs changed."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bot import train

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the training inputs, so fingerprints can be changed safely."""
    for name in ("config.yml", "domain.yml", "requirements.lock"):
        shutil.copy(PROJECT / name, tmp_path / name)
    for name in ("data", "bot/nlu"):
        shutil.copytree(PROJECT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "build" / "jieba").mkdir(parents=True)
    (tmp_path / "build" / "jieba" / "userdict.txt").write_text("货不对版 100000\n", encoding="utf-8")
    return tmp_path


def test_fingerprint_is_stable_and_sees_every_kind_of_input(project):
    base = train.fingerprint(project)
    assert train.fingerprint(project) == base
    for path in ["config.yml", "data/nlu/chitchat.yml", "build/jieba/userdict.txt",
                 "bot/nlu/normalizer.py"]:
        target = project / path
        original = target.read_bytes()
        target.write_bytes(original + b"\n# changed\n")
        assert train.fingerprint(project) != base, path
        target.write_bytes(original)
        assert train.fingerprint(project) == base
    # The Rasa server's own changes to how it runs a model are not training inputs.
    serving = project / "bot" / "nlu" / "inference.py"
    assert serving.is_file()
    serving.write_bytes(serving.read_bytes() + b"\n# changed\n")
    assert train.fingerprint(project) == base
    # Touching a file without changing it does not count as a change.
    (project / "domain.yml").touch()
    assert train.fingerprint(project) == base


def test_unchanged_inputs_do_not_retrain(project, tmp_path, monkeypatch):
    out = tmp_path / "models"
    out.mkdir()
    (out / "assistant.tar.gz").write_bytes(b"model")
    (out / "assistant.fingerprint").write_text(train.fingerprint(project) + "\n")
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    assert train.train(out, root=project) == out / "assistant.tar.gz"
    assert calls == []


def test_an_edited_alias_regenerates_the_artefacts_and_retrains(project, tmp_path, monkeypatch):
    # Training from the command line or the scorer must not use entity patterns older than
    # the knowledge base (the fingerprint covers build/, which is generated from knowledge/).
    shutil.copytree(PROJECT / "knowledge", project / "knowledge")
    out = tmp_path / "models"
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: None)
    train.train(out, root=project)
    first = (out / "assistant.fingerprint").read_text().strip()
    path = project / "knowledge" / "aliexpress_tiers.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("aliases: [橱窗,", "aliases: [橱窗, 窗位数,", 1),
                    encoding="utf-8")
    train.train(out, root=project)
    assert "窗位数" in (project / "build" / "entities" / "patterns.jsonl").read_text(encoding="utf-8")
    assert (out / "assistant.fingerprint").read_text().strip() != first


def test_changed_inputs_retrain_and_record_the_new_fingerprint(project, tmp_path, monkeypatch):
    out = tmp_path / "models"
    out.mkdir()
    (out / "assistant.tar.gz").write_bytes(b"model")
    (out / "assistant.fingerprint").write_text("stale\n")
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: calls.append(cmd))
    train.train(out, root=project)
    [cmd] = calls
    assert cmd[1:4] == ["-m", "rasa", "train"] and "--force" in cmd
    assert (out / "assistant.fingerprint").read_text().strip() == train.fingerprint(project)
