"""Fixtures shared by the whole suite."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from actions.knowledge import KnowledgeBase, load_knowledge

PROJECT = Path(__file__).resolve().parents[1]
KNOWLEDGE = PROJECT / "knowledge"


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    """The project's real knowledge base."""
    return load_knowledge(KNOWLEDGE)


@pytest.fixture
def knowledge_copy(tmp_path: Path) -> Path:
    """A writable copy of the knowledge directory, for tests that edit or break it."""
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    return target
