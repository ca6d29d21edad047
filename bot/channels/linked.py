"""One message from an IM account an operator may link to a merchant (DingTalk, WeCom): the
account's merchant, when it is linked, sealed into the message's metadata (the action server
then trusts it as that merchant, for one message's processing); the turn; the replies."""
from __future__ import annotations

import logging
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from sanic.request import Request

from bot import agent_relay
from bot.channels import limits
from bot.channels.delivery import deliver
from bot.channels.guard import guarded
from bot.channels.understanding import understood
from core.identity import Identity, seal
from core.logsafe import failure

logger = logging.getLogger(__name__)
# How long a sealed identity of a linked account is good for: one message's processing.
SEAL_SECONDS = 300


async def linked_turn(channel: str, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]],
                      key: str, sender: str, account: str, content: str,
                      linked_merchant: Callable[[Any, str], Optional[str]],
                      metadata: Dict[str, Any]) -> Optional[List[Dict[str, Any]]]:
    """The replies to `content` from `account` in conversation `sender`; None when the
    conversation's stores cannot be reached (the caller answers 503)."""
    try:
        merchant = await agent_relay.in_transaction(linked_merchant, account)
    except Exception as e:  # noqa: BLE001 - programme answers need no database
        logger.error("%s account lookup failed: %s", channel, failure(e))
        merchant = None
    identity: Optional[Identity] = None
    if merchant:
        identity = Identity(merchant, "merchant", int(time.time()) + SEAL_SECONDS)
        metadata.update(seal(key, sender, identity))
    agent = request.app.ctx.agent

    async def turn() -> List[Dict[str, Any]]:
        collector = CollectingOutputChannel()
        text = await guarded(agent, sender, content.strip(), channel, identity,
                             limits.client_address(request))
        await on_new_message(await understood(agent, UserMessage(
            text, collector, sender, input_channel=channel, metadata=metadata)))
        return await agent_relay.replies_for_merchant(agent, sender, collector.messages, channel)

    return await deliver(turn(), sender)
