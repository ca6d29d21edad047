"""Anonymous REST channel: POST /webhooks/rest/webhook {"sender": "...", "message": "..."}.

Rasa's REST channel contract, plus what a handoff needs: while a human agent holds the
conversation the merchant hears that their message reached the agent, and the agent's
messages come back with the next request or from GET /webhooks/rest/messages?sender=...
Anonymous: the sender id is whatever the client says, so it never reaches private data.
"""
from __future__ import annotations

import re
from typing import Any, Awaitable, Callable, Dict, List, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import agent_relay
from bot.channels import limits
from bot.channels.auth import audit_refusal
from bot.channels.delivery import BadRequest, deliver, json_object, message_text, unavailable
from bot.channels.guard import guarded, printable_id
from bot.channels.understanding import understood

MAX_SENDER_CHARS = 128
# Conversation ids of the signed-in channels (actions/identity.conversation_id, DingTalk's and
# WeCom's conversation_for): an anonymous client may not name them, not even to poll.
RESERVED_PREFIXES = ("merchant:", "agent:", "dingtalk:", "wecom:", "webchat:")
SAFE_SENDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:-]*")


class ReservedSender(Exception):
    """The anonymous client named a conversation of a signed-in channel."""


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
            if not printable_id(value):
                raise ValueError("'sender' must not contain control characters or lone surrogates")
            if not SAFE_SENDER.fullmatch(value):
                # No direction overrides or look-alike punctuation: an id reads as what it is.
                raise ValueError("'sender' may hold only letters, digits and ._@:- "
                                 "(starting with a letter or digit)")
            if value.strip().lower().startswith(RESERVED_PREFIXES):
                raise ReservedSender(value)
            return value

        async def reserved(sender: str, request: Request) -> HTTPResponse:
            await audit_refusal(self.name(), f"sender id of a signed-in channel: {sender[:100]}",
                                source=limits.client_address(request))
            return response.json({"error": "sender ids starting with merchant:, agent:, dingtalk:, "
                                           "wecom: or webchat: belong to signed-in channels"},
                                 status=403)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/messages", methods=["GET"])
        async def messages(request: Request) -> HTTPResponse:
            try:
                sender = sender_of(request.args.get("sender"))
            except ReservedSender as e:
                return await reserved(str(e), request)
            except ValueError as e:
                return response.json({"error": str(e)}, status=400)
            return response.json(await agent_relay.pending_for_merchant(sender))

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = json_object(request)
                text = message_text(body.get("message"))
                # No default: clients without a sender would all share one conversation.
                sender = sender_of(body.get("sender"))
            except BadRequest as e:
                return e.response()
            except ReservedSender as e:
                return await reserved(str(e), request)
            except ValueError as e:
                return response.json({"error": str(e)}, status=400)
            address = limits.client_address(request)
            wait = limits.shared().message(self.name(), address, sender)
            if wait is not None:
                return limits.too_many(wait)
            agent = request.app.ctx.agent

            async def turn() -> List[Dict[str, Any]]:
                collector = CollectingOutputChannel()
                message = await guarded(agent, sender, text, self.name(), source=address)
                # The client's address goes with the message: anonymous handoffs are limited by it.
                await on_new_message(await understood(agent, UserMessage(
                    message, collector, sender, input_channel=self.name(),
                    metadata={limits.CLIENT_ADDRESS: address})))
                return await agent_relay.replies_for_merchant(agent, sender, collector.messages,
                                                          self.name())

            replies = await deliver(turn(), sender)
            return unavailable() if replies is None else response.json(replies)

        return hook
