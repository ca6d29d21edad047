"""The local PostgreSQL and Redis the end-to-end tests share: required in CI, skipped outside."""
from __future__ import annotations

import os
from typing import List, Tuple

import pytest
import redis
from sqlalchemy import create_engine

PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS: Tuple[str, int] = ("127.0.0.1", 6379)


def require_postgres_and_redis(what: str, problems: List[str] = None) -> None:
    """Fail `what` in CI, skip it elsewhere, when PostgreSQL or Redis (or any of the given
    `problems`) stand in the way."""
    problems = list(problems or [])
    try:
        redis.StrictRedis(*REDIS, socket_timeout=2).ping()
    except redis.RedisError as e:
        problems.append(f"Redis at {REDIS}: {e.__class__.__name__}")
    try:
        engine = create_engine(PG_ADMIN, future=True)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as e:  # noqa: BLE001 - any connection problem means no PostgreSQL here
        problems.append(f"PostgreSQL at {PG_ADMIN}: {e.__class__.__name__}")
    if problems:
        if os.environ.get("CI"):
            pytest.fail(f"{what} needs " + "; ".join(problems))
        pytest.skip(f"{what} skipped outside CI: " + "; ".join(problems))
