"""Authenticated REST channel: POST /webhooks/merchant/webhook with `Authorization: Bearer`."""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.identity import InvalidToken, conversation_id, seal, secret
from bot import handoff
from bot.channels.auth import bearer_identity, unauthorised
from bot.channels import retry
from bot.channels.guard import guarded

MAX_MESSAGE_CHARS = 4000


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
            """Messages from a human agent that arrived since the merchant last heard from us."""
            try:
                identity = bearer_identity(request)
            except InvalidToken as e:
                return unauthorised(self.name(), e)
            sender = conversation_id(secret(), identity)
            return response.json(await handoff.pending_for_merchant(sender))

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                identity = bearer_identity(request)
            except InvalidToken as e:
                return unauthorised(self.name(), e)
            try:
                body = request.json
            except Exception:  # sanic raises its own error types for bad JSON
                body = None
            text = body.get("message") if isinstance(body, dict) else None
            if not isinstance(text, str):
                return response.json({"error": "body must be JSON with a text 'message'"},
                                     status=400)
            if len(text) > MAX_MESSAGE_CHARS:
                return response.json({"error": f"message longer than {MAX_MESSAGE_CHARS} characters"},
                                     status=413)
            # The conversation belongs to the token's subject, whatever the body says.
            sender = conversation_id(secret(), identity)
            collector = CollectingOutputChannel()
            text = await guarded(request.app.ctx.agent, sender, text)
            await retry.handle(on_new_message, UserMessage(text, collector, sender, input_channel=self.name(),
                                             metadata=seal(secret(), sender, identity)))
            return response.json(await handoff.replies_for_merchant(
                request.app.ctx.agent, sender, collector.messages))

        return hook
