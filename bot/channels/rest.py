"""Anonymous REST channel: POST /webhooks/rest/webhook {"sender": "...", "message": "..."}.

Rasa's REST channel contract, plus what a handoff needs: while a human agent holds the
conversation the merchant hears that their message reached the agent, and the agent's
messages come back with the next request or from GET /webhooks/rest/messages?sender=...
Anonymous: the sender id is whatever the client says, so it never reaches private data.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import handoff
from bot.channels import retry
from bot.channels.guard import guarded

MAX_MESSAGE_CHARS = 4000
MAX_SENDER_CHARS = 128


class PublicRestInput(InputChannel):
    """Rasa's REST channel for anonymous programme questions, with handoff delivery."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("public_rest_webhook", __name__)

        def sender_of(value: Any) -> str:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str) or not value.strip():
                raise ValueError("'sender' must be a non-empty text")
            if len(value) > MAX_SENDER_CHARS:
                raise ValueError(f"'sender' longer than {MAX_SENDER_CHARS} characters")
            return value

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/messages", methods=["GET"])
        async def messages(request: Request) -> HTTPResponse:
            try:
                sender = sender_of(request.args.get("sender"))
            except ValueError as e:
                return response.json({"error": str(e)}, status=400)
            return response.json(await handoff.pending_for_merchant(sender))

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = request.json
            except Exception:  # sanic raises its own error types for bad JSON
                body = None
            if not isinstance(body, dict):
                return response.json({"error": "body must be a JSON object"}, status=400)
            text = body.get("message")
            if not isinstance(text, str):
                return response.json({"error": "'message' must be a text"}, status=400)
            if len(text) > MAX_MESSAGE_CHARS:
                return response.json(
                    {"error": f"message longer than {MAX_MESSAGE_CHARS} characters"}, status=413)
            try:
                sender = sender_of(body.get("sender", "default"))
            except ValueError as e:
                return response.json({"error": str(e)}, status=400)
            collector = CollectingOutputChannel()
            text = await guarded(request.app.ctx.agent, sender, text)
            await retry.handle(on_new_message, UserMessage(text, collector, sender, input_channel=self.name()))
            return response.json(await handoff.replies_for_merchant(
                request.app.ctx.agent, sender, collector.messages))

        return hook
