"""Authenticated REST channel: POST /webhooks/merchant/webhook with `Authorization: Bearer`."""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.identity import Identity, InvalidToken, conversation_id, seal, secret, verify_token

logger = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 4000


class MerchantInput(InputChannel):
    """Like Rasa's REST channel, but the caller is who the bearer token says."""

    @classmethod
    def name(cls) -> Text:
        return "merchant"

    def _identity(self, request: Request) -> Identity:
        key = secret()
        if not key:
            raise InvalidToken("authentication is not configured (ASSISTANT_JWT_SECRET)")
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("missing bearer token")
        return verify_token(key, token.strip())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("merchant_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                identity = self._identity(request)
            except InvalidToken as e:
                logger.info("merchant channel refused a request: %s", e)
                return response.json({"error": str(e)}, status=401)
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
            await on_new_message(UserMessage(text, collector, sender, input_channel=self.name(),
                                             metadata=seal(secret(), sender, identity)))
            return response.json(collector.messages)

        return hook
