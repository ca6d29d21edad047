"""Fixtures shared by the whole suite."""
from __future__ import annotations

import functools
import gc
import os
import shutil
from pathlib import Path

import pytest
import redis

from core.knowledge import KnowledgeBase, KnowledgeStore, load_knowledge

PROJECT = Path(__file__).resolve().parents[1]
KNOWLEDGE = PROJECT / "knowledge"


@functools.lru_cache(maxsize=None)
def knowledge_store() -> KnowledgeStore:
    """One store of the project's knowledge base for the run (each worker): loading it takes
    a quarter of a second, and the store reloads by itself when a file changes."""
    return KnowledgeStore(KNOWLEDGE)


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


def redis_or_skip(url: str, purpose: str) -> "redis.StrictRedis":
    """A client of the Redis at `url`; outside CI a test without it skips, in CI it fails."""
    client = redis.StrictRedis.from_url(url, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as e:
        if os.environ.get("CI"):
            pytest.fail(f"{purpose} need Redis at {url}: {e}")
        pytest.skip(f"{purpose} skipped outside CI: no Redis at {url}")
    return client


@pytest.fixture(autouse=True)
def _nothing_left_frozen():
    """A served model's graph runner freezes the garbage collector's objects on its first run
    (bot/memory.py); in the test process, unfrozen after each test so that nothing stays
    uncollectable."""
    yield
    gc.unfreeze()
