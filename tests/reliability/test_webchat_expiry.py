"""A web chat socket hears its merchant's conversation only while the token it sent is valid:
an agent's reply after the token expired reaches the pages signed in with a valid token, not the
expired one (bot/channels/webchat.py)."""
from __future__ import annotations

import asyncio
import time
from typing import Any, List, Optional

import pytest
import socketio

from tests.reliability.conftest import http, token

pytestmark = pytest.mark.e2e

WEBCHAT_PATH = "/webhooks/webchat/socket.io"
LIFETIME_S = 5.0


class Page:
    """One socket of the chat page."""

    def __init__(self, port: int) -> None:
        self.port, self.client, self.received = port, socketio.AsyncClient(reconnection=False), []
        self.client.on("bot_uttered", self._on_reply)

    async def _on_reply(self, data: Any) -> None:
        self.received.append(data.get("text", "") if isinstance(data, dict) else str(data))

    async def open(self) -> None:
        confirmed = asyncio.Event()
        self.client.on("session_confirm", lambda data: confirmed.set())
        await self.client.connect(f"http://127.0.0.1:{self.port}", socketio_path=WEBCHAT_PATH,
                                  transports=["polling"], wait_timeout=30)
        await self.client.emit("session_request", {"session_id": None})
        await asyncio.wait_for(confirmed.wait(), 30)

    async def say(self, text: str, bearer: str, expect: Optional[str] = None) -> None:
        before = len(self.received)
        await self.client.emit("user_uttered", {"message": text, "customData": {"token": bearer}})
        if expect is None:  # a message to a conversation an agent holds may get no reply
            await asyncio.sleep(2)
            return
        deadline = time.monotonic() + 60
        while not any(expect in t for t in self.received[before:]) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert any(expect in t for t in self.received[before:]), self.received

    async def close(self) -> None:
        await self.client.eio.disconnect(abort=True)


def test_a_socket_stops_hearing_the_conversation_when_its_token_expires(reliable):
    port, merchant = reliable.rasa_port, "W9301"  # a conversation no other test touches
    desk = {"Authorization": f"Bearer {token('agent-expiry', role='agent')}"}

    async def scenario() -> List[List[str]]:
        expiring, valid = Page(port), Page(port)
        await expiring.open()
        await valid.open()
        try:
            await expiring.say("转人工", token(merchant, hours=LIFETIME_S / 3600), "工单")
            started = time.time()
            # A second page of the same merchant, signed in for an hour, joins the conversation.
            await valid.say("请尽快", token(merchant))
            status, raw, listed = http(port, "GET", "/webhooks/agent/tickets", None, desk)
            number = next(t["id"] for t in listed["tickets"] if t["merchant_id"] == merchant)
            assert http(port, "POST", f"/webhooks/agent/tickets/{number}/claim", {}, desk)[0] == 200
            await asyncio.sleep(max(0.0, started + LIFETIME_S + 1 - time.time()))
            assert http(port, "POST", f"/webhooks/agent/tickets/{number}/messages",
                        {"text": "您好,我是客服小王"}, desk)[0] == 200
            await asyncio.sleep(8)  # more than two polls of the agent's messages
            http(port, "POST", f"/webhooks/agent/tickets/{number}/handback", {}, desk)
            return [expiring.received, valid.received]
        finally:
            await expiring.close()
            await valid.close()

    expired_heard, valid_heard = asyncio.run(scenario())
    assert any("客服小王" in t for t in valid_heard), valid_heard
    assert not any("客服小王" in t for t in expired_heard), expired_heard
