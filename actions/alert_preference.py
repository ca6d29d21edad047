"""'不用提醒我了' / '开启提醒' in the conversation: a signed-in merchant's tier alerts turned off
or on (actions/alerts.py has the alerts themselves)."""
from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Dict, List, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from actions.alerts import remember_script, set_alerts
from actions.programme_terms import ActionAnswerProgramme
from core import contract
from core.db.session import shared_factory
from core.identity import Identity, secret, unseal
from core.logsafe import failure

logger = logging.getLogger(__name__)
ALERTS_ON = "alerts_on"
# What the alerts are called: a message about turning something else on or off is not theirs.
_ABOUT_ALERTS = re.compile(r"提醒|通知|推送|预警|提示|订阅|退订|alert|notif")


class ActionAlertPreference(Action):
    """'不用提醒我了' / '开启提醒': a signed-in merchant turns their tier alerts off or on (audited,
    with the script they wrote it in kept for their alerts). A visitor is asked to sign in:
    alerts belong to a store."""

    def __init__(self, factory: Optional["sessionmaker[Session]"] = None) -> None:
        self._factory = factory

    def name(self) -> str:
        return "action_alert_preference"

    def _set(self, identity: Identity, enabled: bool, merchant_script: Optional[str], channel: str) -> None:
        factory = self._factory or shared_factory()
        with factory.begin() as session:
            set_alerts(session, identity.sub, enabled, identity, channel)
            remember_script(session, identity.sub, merchant_script)

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[str, Any]) -> List[EventType]:
        message = tracker.latest_message or {}
        if not _ABOUT_ALERTS.search(str(message.get("text") or "").lower()):
            # "花呗怎么关掉": turning something off, but not the alerts. Answered (or declined)
            # as any other question.
            return await ActionAnswerProgramme().run(dispatcher, tracker, domain)
        enabled = (message.get("intent") or {}).get("name") == ALERTS_ON
        channel = tracker.get_latest_input_channel() or ""
        identity = unseal(secret(), tracker.sender_id, message.get("metadata"), channel)
        if identity is None or identity.role != "merchant":
            dispatcher.utter_message(response="utter_alerts_need_login")
            return []
        try:
            await asyncio.to_thread(self._set, identity, enabled, message.get(contract.PARSE_SCRIPT), channel)
        except SQLAlchemyError as e:
            logger.error("alert preference not saved: %s", failure(e))
            dispatcher.utter_message(response="utter_alerts_unavailable")
            return []
        dispatcher.utter_message(response="utter_alerts_on" if enabled else "utter_alerts_off")
        return []
