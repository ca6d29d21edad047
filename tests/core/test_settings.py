"""Settings read from the environment in one module (core/settings.py), when asked."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from core import settings

ROOT = Path(__file__).resolve().parents[2]
READS_ENVIRONMENT = re.compile(r"\bos\.(environ|getenv|putenv)\b")


def test_no_module_but_the_settings_reads_the_environment():
    readers = [str(p.relative_to(ROOT)) for package in ("core", "actions", "bot")
               for p in sorted((ROOT / package).rglob("*.py"))
               if p.name != "settings.py" and READS_ENVIRONMENT.search(p.read_text(encoding="utf-8"))]
    assert readers == [], f"read the environment through core/settings.py: {readers}"


def test_settings_are_read_when_asked(monkeypatch, tmp_path):
    monkeypatch.setenv("KNOWLEDGE_DIR", str(tmp_path))
    assert settings.knowledge_directory() == tmp_path
    monkeypatch.delenv("KNOWLEDGE_DIR")
    assert settings.knowledge_directory() == settings.PROJECT / "knowledge"
    monkeypatch.setenv("DINGTALK_WEBHOOK_HOSTS", " OAPI.dingtalk.com, ,api.example.com ")
    assert settings.dingtalk_webhook_hosts() == ["oapi.dingtalk.com", "api.example.com"]


def test_the_database_url_default_is_one_for_every_caller(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    embedded = f"sqlite:///{settings.DEFAULT_DATABASE}"
    assert settings.database_url() == embedded
    # The launcher passes the servers' environment: same default, or what it names.
    assert settings.database_url({}) == embedded
    assert settings.database_url({"DATABASE_URL": " postgresql://u@h/db "}) == "postgresql://u@h/db"


@pytest.mark.parametrize("raw, kept", [(None, 128), ("0", 0), ("16", 16), (" 256 ", 256), ("abc", 128),
                                       ("-1", 128), ("", 128)])
def test_kept_conversations_is_a_whole_number_else_the_default(monkeypatch, raw, kept):
    if raw is None:
        monkeypatch.delenv("TRACKER_KEPT_CONVERSATIONS", raising=False)
    else:
        monkeypatch.setenv("TRACKER_KEPT_CONVERSATIONS", raw)
    assert settings.kept_conversations() == kept


def test_wecom_settings_are_trimmed_and_the_api_base_has_its_default(monkeypatch):
    for name in ("WECOM_CORP_ID", "WECOM_TOKEN", "WECOM_ENCODING_AES_KEY", "WECOM_SECRET",
                 "WECOM_AGENT_ID", "WECOM_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    assert (settings.wecom_corp_id(), settings.wecom_token(), settings.wecom_encoding_aes_key(),
            settings.wecom_secret(), settings.wecom_agent_id()) == (None,) * 5
    assert settings.wecom_api_base() == "https://qyapi.weixin.qq.com"
    monkeypatch.setenv("WECOM_CORP_ID", " ww123 ")
    monkeypatch.setenv("WECOM_AGENT_ID", "1000002\n")
    monkeypatch.setenv("WECOM_API_BASE", "http://127.0.0.1:8080/")
    assert (settings.wecom_corp_id(), settings.wecom_agent_id()) == ("ww123", "1000002")
    assert settings.wecom_api_base() == "http://127.0.0.1:8080"


def test_a_variable_set_for_a_block_is_as_it_was_after(monkeypatch):
    monkeypatch.delenv("MERCHANT_TEST_OPTION", raising=False)
    with settings.variable_set("MERCHANT_TEST_OPTION", "1"):
        assert os.environ["MERCHANT_TEST_OPTION"] == "1"
    assert "MERCHANT_TEST_OPTION" not in os.environ
    monkeypatch.setenv("MERCHANT_TEST_OPTION", "before")
    with pytest.raises(RuntimeError):
        with settings.variable_set("MERCHANT_TEST_OPTION", "during"):
            assert os.environ["MERCHANT_TEST_OPTION"] == "during"
            raise RuntimeError("the block failed")
    assert os.environ["MERCHANT_TEST_OPTION"] == "before"
