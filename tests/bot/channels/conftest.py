"""The channels without a Rasa server or a model: a Sanic app with one channel's blueprint,
driven over ASGI (httpx2's ASGITransport; sanic-testing is not among the pinned packages).

Each test gets a fake agent (tracker store, lock store, NLG, a processor that only does what
bot/agent_relay.py asks of it), an `on_new_message` that records the UserMessage and answers on
its output channel, a migrated SQLite database of its own ($DATABASE_URL, through
core/db/session.py) and fresh rate limits read from the environment.
"""
from __future__ import annotations

import datetime as dt
import shutil
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Dict, List, Optional

import httpx2
import pytest
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.lock_store import InMemoryLockStore
from rasa.shared.core.events import ConversationPaused, SlotSet
from rasa.shared.core.slots import TextSlot
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Sanic
from sanic.touchup import TouchUp
from sqlalchemy import select

from bot.agent_relay import TICKET_SLOT
from core import limits as core_limits
from core.db import session as db_session
from core.db.migrate import upgrade
from core.db.models import AlertDelivery, AuditRecord, Merchant, TierAlert
from core.identity import issue_token

SECRET = "channel-tests-jwt-secret-of-32-bytes!"
# The client's address as the ASGI scope gives it (TEST-NET, so no real host is meant).
ADDRESS = "203.0.113.7"
OTHER_ADDRESS = "198.51.100.23"
REPLY = "金牌商家每个月有3个橱窗。"


def token(sub: str, role: str = "merchant", ttl: dt.timedelta = dt.timedelta(hours=1),
          key: str = SECRET) -> str:
    return issue_token(key, sub, role, ttl)


def paused(sender: str, ticket: str = "7") -> DialogueStateTracker:
    """A conversation an agent holds: paused, with its ticket number in the slot."""
    return DialogueStateTracker.from_events(
        sender, [SlotSet(TICKET_SLOT, ticket), ConversationPaused()],
        slots=[TextSlot(TICKET_SLOT, mappings=[])])


class FakeTrackerStore:
    def __init__(self) -> None:
        self.trackers: Dict[str, DialogueStateTracker] = {}

    async def retrieve(self, sender: str) -> Optional[DialogueStateTracker]:
        return self.trackers.get(sender)

    async def retrieve_full_tracker(self, sender: str) -> Optional[DialogueStateTracker]:
        return self.trackers.get(sender)

    async def save(self, tracker: DialogueStateTracker) -> None:
        self.trackers[tracker.sender_id] = tracker


class FakeNLG:
    TEMPLATES = {"utter_handoff_waiting": "waiting for an agent (ticket {ticket})",
                 "utter_handoff_returned": "the assistant is back"}

    def __init__(self) -> None:
        self.calls: List[tuple] = []

    async def generate(self, name: str, tracker: Any, channel: str, **values: Any) -> Optional[Dict]:
        self.calls.append((name, channel, values))
        template = self.TEMPLATES.get(name)
        return {"text": template.format(**values)} if template else None


class FakeProcessor:
    """What bot/agent_relay.py uses of Rasa's MessageProcessor."""

    http_interpreter = None

    def __init__(self, agent: "FakeAgent") -> None:
        self.agent = agent
        self.handled: List[UserMessage] = []

    async def get_tracker(self, sender: str) -> DialogueStateTracker:
        found = await self.agent.tracker_store.retrieve(sender)
        return found if found is not None else DialogueStateTracker(sender, [])

    async def handle_message(self, message: UserMessage) -> None:
        self.handled.append(message)
        await message.output_channel.send_text_message(message.sender_id, f"answer: {message.text}")


class FakeAgent:
    def __init__(self) -> None:
        self.tracker_store = FakeTrackerStore()
        self.lock_store = InMemoryLockStore()
        self.nlg = FakeNLG()
        self.processor = FakeProcessor(self)
        self.domain = SimpleNamespace(slots=[])

    def is_ready(self) -> bool:
        # No model: bot/channels/understanding.py leaves the parse to Rasa.
        return False


class Recorder:
    """The fake `on_new_message`: records each message; answers on its output channel with
    `replies`, or raises `error`."""

    def __init__(self) -> None:
        self.messages: List[UserMessage] = []
        self.replies: List[Dict[str, Any]] = [{"text": REPLY}]
        self.error: Optional[BaseException] = None

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        if self.error is not None:
            raise self.error
        for reply in self.replies:
            await message.output_channel.send_response(message.sender_id, dict(reply))

    @property
    def only(self) -> UserMessage:
        assert len(self.messages) == 1, self.messages
        return self.messages[0]


@dataclass
class Served:
    app: Sanic
    channel: InputChannel
    agent: FakeAgent
    received: Recorder
    client: httpx2.AsyncClient
    prefix: str
    _clients: List[httpx2.AsyncClient] = field(default_factory=list)

    def client_from(self, address: str) -> httpx2.AsyncClient:
        """Another client, calling from `address`."""
        client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=self.app, client=(address, 40000)),
                                    base_url="http://channels.test")
        self._clients.append(client)
        return client


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory):
    """An empty database with the schema, migrated once (each test gets a copy)."""
    path = tmp_path_factory.mktemp("schema") / "merchants.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(autouse=True)
def channel_environment(monkeypatch, tmp_path, migrated_database):
    """The signing secret set, a database of the test's own (the code's session factory finds
    it up to date), the limits fresh and at their defaults (each test sets what it needs)."""
    monkeypatch.setenv("ASSISTANT_JWT_SECRET", SECRET)
    database = tmp_path / "merchants.db"
    shutil.copyfile(migrated_database, database)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    for name in (*core_limits.DEFAULTS, core_limits.STORAGE_VARIABLE, "ASSISTANT_MAX_TOKEN_HOURS",
                 "DINGTALK_APP_SECRET", "DINGTALK_WEBHOOK_HOSTS", "WECOM_CORP_ID", "WECOM_TOKEN",
                 "WECOM_ENCODING_AES_KEY", "WECOM_SECRET", "WECOM_AGENT_ID", "WECOM_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(core_limits, "_shared", None)
    factories: Dict[str, Any] = {}
    monkeypatch.setattr(db_session, "_shared", factories)
    yield
    for factory in factories.values():
        factory.kw["bind"].dispose()


@pytest.fixture
async def serve(monkeypatch):
    """serve(channel, agent=None) -> Served: the channel's blueprint on a new app, as Rasa
    registers it (under /webhooks/<name>), and a client calling from ADDRESS."""
    # Sanic's start-up rewrites methods of its own classes (TouchUp); in test mode it rewrites
    # the original each time, so that many apps can start in one process. The originals are
    # put back afterwards, for whatever else runs in this process.
    monkeypatch.setattr(Sanic, "test_mode", True)
    for target, name in TouchUp._registry:
        monkeypatch.setattr(target, name, getattr(target, name))
    made: List[Served] = []

    async def start(channel: InputChannel, agent: Optional[FakeAgent] = None) -> Served:
        app = Sanic(f"channels_{uuid.uuid4().hex}")
        app.ctx.agent = agent or FakeAgent()
        received = Recorder()
        prefix = f"/webhooks/{channel.url_prefix()}"
        app.blueprint(channel.blueprint(received), url_prefix=prefix)
        await app._startup()
        served = Served(app, channel, app.ctx.agent, received, None, prefix)  # type: ignore[arg-type]
        served.client = served.client_from(ADDRESS)
        made.append(served)
        return served

    yield start
    for served in made:
        for client in served._clients:
            await client.aclose()
        Sanic._app_registry.pop(served.app.name, None)


def audit_rows(action: Optional[str] = None) -> List[Dict[str, Any]]:
    """The audit log as written, oldest first (only `action` when given)."""
    query = select(AuditRecord).order_by(AuditRecord.id)
    if action is not None:
        query = query.where(AuditRecord.action == action)
    with db_session.shared_factory().begin() as session:
        return [{"actor": r.actor, "actor_role": r.actor_role, "subject": r.subject_merchant,
                 "action": r.action, "allowed": r.allowed, "reason": r.reason, "source": r.source}
                for r in session.execute(query).scalars()]


def waiting_alert(merchant_id: str) -> None:
    """A merchant (made if missing) whose 好评率 fell to 91.5%: a tier alert waiting for their app
    (docs/alerts.md)."""
    missed = "positive_feedback_rate,"
    with db_session.shared_factory().begin() as session:
        if session.get(Merchant, merchant_id) is None:
            session.add(Merchant(id=merchant_id, name="店", l2_category="女装"))
            session.flush()
        alert = TierAlert(merchant_id=merchant_id, as_of=dt.date(2026, 11, 22), old_outcome="gold",
                          new_outcome="none", old_missed_gold="", new_missed_gold=missed,
                          old_missed_silver="", new_missed_silver=missed, payment_rank_top_pct=4.5,
                          online_72h_rate=90, snad_dispute_rate=0, positive_feedback_rate=91.5,
                          dingtalk_active_days_90d=61, industry_conditions_met=True,
                          ip_severe_infringements=0, ip_prohibited_points=0, trade_violation_points=0,
                          banned_or_frozen=False)
        session.add(alert)
        session.flush()
        session.add(AlertDelivery(alert_id=alert.id, merchant_id=merchant_id, channel="app",
                                  address=merchant_id, idempotency_key=f"{alert.id}|app|{merchant_id}"))
