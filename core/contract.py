"""The names the Rasa server and the action server exchange: slots (declared in domain.yml),
keys of a message's metadata (set by the channels) and keys the NLU adds to a message's parse
data. Both packages use these constants; tests/actions/test_contract.py checks the slots
against domain.yml and that no module spells one of these names out itself.
"""
from __future__ import annotations

# Slots (domain.yml).
SLOT_TOPIC = "topic"
SLOT_PROGRAMME_CONTEXT = "programme_context"
SLOT_PENDING_OFFER = "pending_offer"
SLOT_HANDOFF_TICKET = "handoff_ticket"
SLOTS = (SLOT_TOPIC, SLOT_PROGRAMME_CONTEXT, SLOT_PENDING_OFFER, SLOT_HANDOFF_TICKET)

# Values of the pending-offer slot: what "好的" accepts next.
OFFER_HANDOFF = "handoff"
OFFER_CHECK_STATUS = "check_status"

# Message metadata, set by the channels (and the agent desk's delegate).
META_IDENTITY = "identity"            # the sealed identity of a signed-in caller
META_DELEGATION = "delegation"        # the sealed agent who let the assistant answer
META_CLIENT_ADDRESS = "client_address"
META_DELEGATED_BY = "delegated_by"    # the agent, as shown in the agent desk's transcript
META_BROWSER_SCRIPT = "browser_script"  # on the chat window's greeting: the browser's script

# Parse data the NLU adds to a message.
PARSE_TEXT_ORIGINAL = "text_original"  # the message as written (the text is normalised)
PARSE_SCRIPT = "script"                # the script it was written in
PARSE_SCRIPT_NEUTRAL = "script_neutral"  # reads the same in both scripts ("好的")
PARSE_TRUNCATED = "truncated"          # the NLU read only part of a long message
PARSE_NOT_OURS = "not_ours"            # a request to produce something: not a question for us
PARSE_ASKS = "asks"                    # a question with content: a question word and enough words
