"""A real database for each test: a SQLite file, and PostgreSQL (required in CI). The conftest of
each folder whose tests need one re-exports these fixtures."""
from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from core.db.migrate import upgrade
from core.db.session import make_engine, make_session_factory

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_schema_url():
    try:
        admin = create_engine(PG_URL, future=True)
        schema = f"t_{uuid.uuid4().hex[:10]}"
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as e:  # noqa: BLE001 - any connection problem means no PostgreSQL here
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} is required in CI: {e}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} (outside CI): {e.__class__.__name__}")
    return admin, schema, f"{PG_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'merchants.db'}"
        upgrade(url)
        yield url
        return
    admin, schema, url = _postgres_schema_url()
    upgrade(url)
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def factory(db_url):
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()
