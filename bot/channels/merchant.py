"""Authenticated REST channel: POST /webhooks/merchant/webhook with `Authorization: Bearer`."""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, List, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import agent_relay
from bot.channels import limits
from bot.channels.auth import bearer_identity, unauthorised
from bot.channels.delivery import BadRequest, deliver, json_object, message_text, unavailable
from bot.channels.guard import guarded
from bot.channels.understanding import understood
from core.identity import InvalidToken, conversation_id, seal, secret


def _key() -> str:
    """The shared secret, once bearer_identity has verified a token with it (so it is set)."""
    key = secret()
    assert key is not None, "bearer_identity refuses every token without a secret"
    return key


class MerchantInput(InputChannel):
    """Like Rasa's REST channel, but the caller is who the bearer token says."""

    @classmethod
    def name(cls) -> Text:
        return "merchant"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("merchant_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/messages", methods=["GET"])
        async def messages(request: Request) -> HTTPResponse:
            """Messages from a human agent that arrived since the merchant last heard from us, then
            the merchant's tier alerts that wait (docs/alerts.md)."""
            try:
                identity = bearer_identity(request)
            except InvalidToken as e:
                return await unauthorised(self.name(), e, request)
            sender = conversation_id(_key(), identity)
            waiting = await agent_relay.pending_for_merchant(sender)
            if identity.role == "merchant":
                waiting += await agent_relay.alerts_for_merchant(sender, identity.sub)
            return response.json(waiting)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                identity = bearer_identity(request)
            except InvalidToken as e:
                return await unauthorised(self.name(), e, request)
            try:
                text = message_text(json_object(request).get("message"))
            except BadRequest as e:
                return e.response()
            # The conversation belongs to the token's subject, whatever the body says.
            sender = conversation_id(_key(), identity)
            address = limits.client_address(request)
            wait = limits.shared().message(self.name(), address, sender)
            if wait is not None:
                return limits.too_many(wait)
            agent = request.app.ctx.agent

            async def turn() -> List[Dict[str, Any]]:
                collector = CollectingOutputChannel()
                message = await guarded(agent, sender, text, self.name(), identity, address)
                await on_new_message(await understood(agent, UserMessage(
                    message, collector, sender, input_channel=self.name(),
                    metadata={**seal(_key(), sender, identity),
                               limits.CLIENT_ADDRESS: address})))
                return await agent_relay.replies_for_merchant(agent, sender, collector.messages,
                                                          self.name())

            replies = await deliver(turn(), sender)
            return unavailable() if replies is None else response.json(replies)

        return hook
