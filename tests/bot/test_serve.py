"""What `make run` starts: the embedded defaults, and the HTTP API only with a token."""
from __future__ import annotations

from pathlib import Path

from bot.serve import Servers, server_env

BASE = {"ASSISTANT_JWT_SECRET": "s", "ACTION_SERVER_TOKEN": "t", "PATH": "/usr/bin"}


def test_embedded_defaults(tmp_path):
    env = server_env(5005, 5055, dict(BASE, TRACKER_STORE_DB=str(tmp_path / "t.db")))
    assert env["TRACKER_STORE_URL"] == f"sqlite:///{tmp_path / 't.db'}"
    assert env["LOCK_STORE_TYPE"] == "in_memory"
    assert env["ACTION_ENDPOINT_URL"] == "http://127.0.0.1:5055/webhook"


def test_configured_stores_are_kept():
    env = server_env(5005, 5055, dict(BASE, TRACKER_STORE_URL="postgresql://u@db/rasa",
                                      LOCK_STORE_TYPE="redis", REDIS_HOST="redis.internal"))
    assert env["TRACKER_STORE_URL"] == "postgresql://u@db/rasa"
    # "redis" selects the project's atomic Redis lock store (bot/lock_store.py).
    assert env["LOCK_STORE_TYPE"] == "bot.lock_store.AtomicRedisLockStore"
    assert env["REDIS_HOST"] == "redis.internal"


def test_http_api_is_off_without_a_token_and_protected_with_one(tmp_path):
    off = Servers(Path("m.tar.gz"), 1, 2, env=dict(BASE, TRACKER_STORE_DB=str(tmp_path / "t.db")))
    assert "--enable-api" not in off.rasa_command()
    on = Servers(Path("m.tar.gz"), 1, 2, env=dict(BASE, TRACKER_STORE_DB=str(tmp_path / "t.db"),
                                                  RASA_API_TOKEN="api-secret"))
    command = on.rasa_command()
    assert command[command.index("--enable-api") + 1:][:2] == ["--auth-token", "api-secret"]


def test_queued_messages_keep_their_place_longer_than_rasas_default(tmp_path):
    env = server_env(5005, 5055, dict(BASE, TRACKER_STORE_DB=str(tmp_path / "t.db")))
    assert int(env["TICKET_LOCK_LIFETIME"]) > 60


def test_tensorflow_reads_a_message_on_one_thread_unless_configured(tmp_path):
    env = server_env(5005, 5055, dict(BASE, TRACKER_STORE_DB=str(tmp_path / "t.db")))
    assert env["TF_INTER_OP_PARALLELISM_THREADS"] == env["TF_INTRA_OP_PARALLELISM_THREADS"] == "1"
    mine = server_env(5005, 5055, dict(BASE, TRACKER_STORE_DB=str(tmp_path / "t.db"),
                                       TF_INTRA_OP_PARALLELISM_THREADS="4"))
    assert mine["TF_INTRA_OP_PARALLELISM_THREADS"] == "4"
