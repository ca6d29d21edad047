"""Reply generation that answers in the script the merchant writes in."""
from __future__ import annotations

from typing import Any, Dict, Optional, Text

from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from core import contract, script


def reply_script(tracker: DialogueStateTracker) -> Optional[Text]:
    """The script of the merchant's latest message that shows one (None: simplified).

    A message that reads the same in both scripts ("好的") keeps the earlier script; it
    decides only when no earlier message had Chinese in it. With none, the browser's script
    the web chat window opened in, if it recorded one.
    """
    written = script.merchant_script(event.parse_data or {} for event in reversed(tracker.events)
                                     if isinstance(event, UserUttered))
    if written is not None:
        return written
    # Before the merchant has written any Chinese (a button's payload): the script of the
    # browser the chat window opened in, as its greeting recorded it.
    return next((hint for event in reversed(tracker.events) if isinstance(event, BotUttered)
                 for hint in [(event.metadata or {}).get(contract.META_BROWSER_SCRIPT)]
                 if hint in script.SCRIPTS), None)


def convert_response(response: Dict[Text, Any], target: Optional[Text]) -> Dict[Text, Any]:
    """Convert the text and button titles of a rendered response to the target script."""
    if target in (None, script.SIMPLIFIED):
        return response
    if isinstance(response.get("text"), str):
        response["text"] = script.from_simplified(response["text"], target)
    for key in ("buttons", "quick_replies"):
        for button in response.get(key) or []:
            if isinstance(button, dict) and isinstance(button.get("title"), str):
                button["title"] = script.from_simplified(button["title"], target)
    return response


class ScriptAwareNaturalLanguageGenerator(TemplatedNaturalLanguageGenerator):
    """Renders domain responses (simplified) and converts them to the merchant's script."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None,
                 domain: Optional[Domain] = None) -> None:
        super().__init__((domain or Domain.empty()).responses)

    async def generate(
        self,
        utter_action: Text,
        tracker: DialogueStateTracker,
        output_channel: Text,
        **kwargs: Any,
    ) -> Optional[Dict[Text, Any]]:
        """Render the response, then convert it to the script of the conversation."""
        target = reply_script(tracker)
        # Buttons sent by an action are appended by Rasa after this call, from these very
        # dicts: convert their titles in place so they follow the script too.
        convert_response({"buttons": kwargs.get("buttons")}, target)
        response = await super().generate(utter_action, tracker, output_channel, **kwargs)
        if response is None:
            return None
        return convert_response(response, target)
