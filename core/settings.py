"""Every setting the two servers and the tools read from the environment, in one place, with its
default. The README's configuration table lists them for operators.

Each is read when asked, not at import: a test that sets a variable, or a tool that starts the
servers with another environment, sees it. Nothing else in `actions/` or `bot/` reads
`os.environ`.
"""
from __future__ import annotations

import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Tuple

# The project's root: knowledge/, var/, models/, build/ and web/ are found from here.
PROJECT = Path(__file__).resolve().parents[1]
# Where the embedded defaults keep their files (SQLite databases).
VAR = PROJECT / "var"
DEFAULT_DATABASE = VAR / "merchants.db"
DEFAULT_TRACKER_DATABASE = VAR / "trackers.db"


def _text(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def environment() -> Dict[str, str]:
    """A copy of the whole environment (for child processes and the rate limits' variables)."""
    return dict(os.environ)


def jwt_secret() -> Optional[str]:
    """$ASSISTANT_JWT_SECRET: the key tokens and seals are signed with (None: nobody signs in)."""
    return _text("ASSISTANT_JWT_SECRET") or None


def max_token_hours() -> str:
    """$ASSISTANT_MAX_TOKEN_HOURS as written (core/identity.py checks it)."""
    return _text("ASSISTANT_MAX_TOKEN_HOURS")


def fixed_today() -> str:
    """$ASSISTANT_TODAY (YYYY-MM-DD): the date the assistant takes as today, for tests and demos."""
    return _text("ASSISTANT_TODAY").strip()


def knowledge_directory() -> Path:
    """$KNOWLEDGE_DIR, else the project's knowledge/."""
    return Path(_text("KNOWLEDGE_DIR") or PROJECT / "knowledge")


def database_url(env: Optional[Mapping[str, str]] = None) -> str:
    """$DATABASE_URL (of `env` when given, e.g. the servers' environment), else the embedded
    SQLite file var/merchants.db (its folder made on first use)."""
    url = ((os.environ if env is None else env).get("DATABASE_URL") or "").strip()
    if url:
        return url
    DEFAULT_DATABASE.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_DATABASE}"


def action_server_token() -> Optional[str]:
    """$ACTION_SERVER_TOKEN: what the Rasa server presents to the action server."""
    return _text("ACTION_SERVER_TOKEN") or None


def action_server_host() -> str:
    """$SANIC_HOST: the address the action server listens on."""
    return _text("SANIC_HOST", "0.0.0.0")


def action_call_seconds() -> Tuple[float, float, float]:
    """($ACTION_TIMEOUT_SECONDS, $ACTION_RETRY_SECONDS, $ACTION_KEEPALIVE_SECONDS): 3, 10, 2."""
    return (float(_text("ACTION_TIMEOUT_SECONDS", "3")), float(_text("ACTION_RETRY_SECONDS", "10")),
            float(_text("ACTION_KEEPALIVE_SECONDS", "2")))


def dingtalk_webhook_hosts() -> List[str]:
    """$DINGTALK_WEBHOOK_HOSTS (comma-separated, lower-cased); empty when unset."""
    return [h.strip().lower() for h in _text("DINGTALK_WEBHOOK_HOSTS").split(",") if h.strip()]


def dingtalk_app_secret() -> Optional[str]:
    """$DINGTALK_APP_SECRET: the key DingTalk signs its calls with."""
    return _text("DINGTALK_APP_SECRET") or None


DEFAULT_WECOM_API_BASE = "https://qyapi.weixin.qq.com"


def wecom_corp_id() -> Optional[str]:
    """$WECOM_CORP_ID: the organisation's CorpID in WeCom (企业ID)."""
    return _text("WECOM_CORP_ID").strip() or None


def wecom_token() -> Optional[str]:
    """$WECOM_TOKEN: the Token set for the app's callback URL; WeCom signs its calls with it."""
    return _text("WECOM_TOKEN").strip() or None


def wecom_encoding_aes_key() -> Optional[str]:
    """$WECOM_ENCODING_AES_KEY: the 43-character EncodingAESKey the callbacks are encrypted with."""
    return _text("WECOM_ENCODING_AES_KEY").strip() or None


def wecom_secret() -> Optional[str]:
    """$WECOM_SECRET: the app's Secret, for the access token that sends replies."""
    return _text("WECOM_SECRET").strip() or None


def wecom_agent_id() -> Optional[str]:
    """$WECOM_AGENT_ID: the app's AgentId, the app replies are sent as."""
    return _text("WECOM_AGENT_ID").strip() or None


def wecom_api_base() -> str:
    """$WECOM_API_BASE: WeCom's server API, without a trailing slash (https://qyapi.weixin.qq.com)."""
    return (_text("WECOM_API_BASE").strip() or DEFAULT_WECOM_API_BASE).rstrip("/")


def server_ports() -> Tuple[int, int]:
    """($RASA_PORT, $ACTION_PORT): 5005 and 5055."""
    return int(_text("RASA_PORT", "5005")), int(_text("ACTION_PORT", "5055"))


def positive_number(raw: str, default: float) -> float:
    """A setting that must be a positive finite number: anything else ("abc", "0", "nan",
    "inf", unset) is the default, so that a typo never switches a limit off."""
    try:
        value = float(raw or default)
    except ValueError:
        return default
    return value if math.isfinite(value) and value > 0 else default


def agent_session_minutes() -> str:
    """$AGENT_SESSION_MINUTES: how long an agent console session lasts (core/agents.py)."""
    return _text("AGENT_SESSION_MINUTES")


def kept_conversations() -> int:
    """$TRACKER_KEPT_CONVERSATIONS: how many recent conversations each Rasa process keeps in
    memory between turns (bot/tracker_store.py); 0 keeps none. 128 by default."""
    raw = _text("TRACKER_KEPT_CONVERSATIONS", "128").strip()
    return int(raw) if raw.isdigit() else 128


def tracker_store_url(env: Optional[Mapping[str, str]] = None) -> str:
    """Where the conversations are: $TRACKER_STORE_URL, else the embedded default, a SQLite
    file ($TRACKER_STORE_DB, else var/trackers.db)."""
    source = os.environ if env is None else env
    url = (source.get("TRACKER_STORE_URL") or "").strip()
    if url:
        return url
    return f"sqlite:///{Path(source.get('TRACKER_STORE_DB') or VAR / 'trackers.db').resolve()}"


DEFAULT_DINGTALK_API_BASE = "https://oapi.dingtalk.com"


def dingtalk_app_key() -> Optional[str]:
    """$DINGTALK_APP_KEY: the DingTalk app's AppKey, for work notifications (tier alerts)."""
    return _text("DINGTALK_APP_KEY") or None


def dingtalk_agent_id() -> Optional[str]:
    """$DINGTALK_AGENT_ID: the DingTalk app's AgentId that sends work notifications."""
    return _text("DINGTALK_AGENT_ID") or None


def dingtalk_api_base() -> str:
    """$DINGTALK_API_BASE: DingTalk's server API (work notifications); its public address by default."""
    return _text("DINGTALK_API_BASE", DEFAULT_DINGTALK_API_BASE).rstrip("/")


def alert_quiet_hours() -> str:
    """$ASSISTANT_ALERT_QUIET_HOURS: local hours in which no alert is pushed ("22-8"; "off")."""
    return _text("ASSISTANT_ALERT_QUIET_HOURS", "22-8")


def alert_daily_cap() -> int:
    """$ASSISTANT_ALERT_DAILY_CAP: alerts pushed to one merchant per channel in 24 hours (3)."""
    raw = _text("ASSISTANT_ALERT_DAILY_CAP", "3").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else 3


@contextmanager
def variable_set(name: str, value: str) -> Iterator[None]:
    """The environment variable `name` set to `value` for the block (a library that reads its
    options from the environment when it is imported), then as it was."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before
