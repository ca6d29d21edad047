"""WeCom accounts linked to merchants: the `wecom_users` migration (0007) and
`python -m actions.cli link-wecom`, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from sqlalchemy import inspect, text

from actions import cli
from core.db.migrate import config, upgrade
from core.db.models import Merchant, WeComUser
from core.db.session import make_engine


def add_merchant(factory, merchant_id: str) -> None:
    with factory.begin() as session:
        session.add(Merchant(id=merchant_id, name=f"店铺 {merchant_id}", l2_category="女装"))


def columns(url: str, table: str):
    engine = make_engine(url)
    try:
        found = inspect(engine)
        if table not in found.get_table_names():
            return None
        return {c["name"]: (c["nullable"], str(c["type"])) for c in found.get_columns(table)}
    finally:
        engine.dispose()


def version(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def test_the_migration_makes_the_table_and_takes_it_back(db_url):
    assert columns(db_url, "wecom_users") == {
        "user_id": (False, "VARCHAR(128)"), "merchant_id": (False, "VARCHAR(64)"),
        "linked_at": (False, "DATETIME" if db_url.startswith("sqlite") else "TIMESTAMP")}
    head = version(db_url)
    command.downgrade(config(db_url), "0006")
    assert columns(db_url, "wecom_users") is None
    assert columns(db_url, "dingtalk_users") is not None  # the revisions before are untouched
    command.upgrade(config(db_url), "0007")
    assert version(db_url) == "0007" and columns(db_url, "wecom_users") is not None
    upgrade(db_url)
    assert version(db_url) == head


def test_one_account_speaks_for_one_merchant(factory):
    add_merchant(factory, "M7001")
    with factory.begin() as session:
        session.add(WeComUser(user_id="zhangsan", merchant_id="M7001"))
    with pytest.raises(Exception):  # noqa: B017 - the drivers' errors differ: IntegrityError either way
        with factory.begin() as session:
            session.add(WeComUser(user_id="zhangsan", merchant_id="M7002"))
    with factory.begin() as session:
        user = session.get(WeComUser, "zhangsan")
        assert user.merchant_id == "M7001" and isinstance(user.linked_at, dt.datetime)


def test_link_wecom_links_and_moves_an_account(db_url, factory, capsys):
    add_merchant(factory, "M7001")
    add_merchant(factory, "M7002")
    assert cli.main(["--database-url", db_url, "link-wecom", "zhangsan", "M7001"]) == 0
    assert "WeCom account zhangsan now speaks for merchant M7001" in capsys.readouterr().out
    with factory.begin() as session:
        first = session.get(WeComUser, "zhangsan")
        assert first.merchant_id == "M7001"
        linked_at = first.linked_at
    assert cli.main(["--database-url", db_url, "link-wecom", "zhangsan", "M7002"]) == 0
    with factory.begin() as session:
        users = session.query(WeComUser).all()
        assert [(u.user_id, u.merchant_id) for u in users] == [("zhangsan", "M7002")]
        assert users[0].linked_at >= linked_at


@pytest.mark.parametrize("user_id, merchant, error", [
    ("zhangsan", "M9999", "no merchant M9999"),
    ("u" * 129, "M7001", "1-128 letters, digits"),
    ("  ", "M7001", "1-128 letters, digits"),
    ("zhang\nsan", "M7001", "1-128 letters, digits"),
    # WeCom's send API reads these as several members, or the whole organisation.
    ("zhangsan|lisi", "M7001", "1-128 letters, digits"),
    ("@all", "M7001", "(not @all)"),
], ids=["unknown-merchant", "too-long", "blank", "newline", "two-members", "everyone"])
def test_link_wecom_refuses_what_it_cannot_link(db_url, factory, capsys, user_id, merchant, error):
    add_merchant(factory, "M7001")
    assert cli.main(["--database-url", db_url, "link-wecom", user_id, merchant]) == 1
    assert error in capsys.readouterr().err
    with factory.begin() as session:
        assert session.query(WeComUser).count() == 0
