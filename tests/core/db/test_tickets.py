"""Handoff tickets and the merchant's outbox, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from core.db import tickets
from core.db.models import HandoffTicket, TicketEvent

SUMMARY = {"questions": [{"text": "第20条怎么申请", "answered": False, "reply": ""}],
           "unanswered": ["第20条怎么申请"], "tier_status": None, "reason": "requested", "topic": None}


def open_one(factory, conversation: str = "merchant:M1001:abc", **changes) -> int:
    args = dict(channel="merchant", merchant_id="M1001", reason="requested", script="zh-Hans",
                summary=SUMMARY)
    args.update(changes)
    with factory.begin() as s:
        return tickets.open_ticket(s, conversation, args["channel"], args["merchant_id"],
                                   args["reason"], args["script"], args["summary"]).id


def kinds(factory, ticket_id: int):
    with factory() as s:
        return [(e.kind, e.actor, e.text, e.for_merchant) for e in tickets.events(s, ticket_id)]


def test_open_ticket_stores_the_conversation_and_its_summary(factory):
    ticket_id = open_one(factory, merchant_id=None, channel="rest", reason="repeated_failure")
    with factory() as s:
        ticket = tickets.get_ticket(s, ticket_id)
        assert (ticket.conversation_id, ticket.channel, ticket.merchant_id, ticket.reason,
                ticket.status, ticket.script) == ("merchant:M1001:abc", "rest", None,
                                                  "repeated_failure", "open", "zh-Hans")
        assert ticket.claimed_by is None and ticket.created_at is not None
        assert tickets.summary_of(ticket) == SUMMARY
        assert "第20条怎么申请" in ticket.summary  # stored readable, not \u-escaped
    assert kinds(factory, ticket_id) == [("created", None, "repeated_failure", False)]


def test_summary_of_a_damaged_row_is_empty(factory):
    ticket_id = open_one(factory)
    with factory.begin() as s:
        s.get(HandoffTicket, ticket_id).summary = "{not json"
    with factory() as s:
        assert tickets.summary_of(s.get(HandoffTicket, ticket_id)) == {}


def test_an_active_ticket_of_the_conversation_is_reused(factory):
    first = open_one(factory)
    assert open_one(factory, reason="repeated_failure") == first
    other = open_one(factory, "merchant:M1002:def")
    assert other != first
    with factory.begin() as s:
        tickets.claim(s, first, "agent-7")
    assert open_one(factory) == first  # claimed is still active
    with factory.begin() as s:
        tickets.close(s, first, "agent-7")
    reopened = open_one(factory)
    assert reopened not in (first, other)
    with factory() as s:
        assert tickets.active_ticket(s, "merchant:M1001:abc").id == reopened
        assert tickets.active_ticket(s, "nobody") is None
        assert len(s.execute(select(HandoffTicket)).all()) == 3
    assert [k for k, *_ in kinds(factory, first)] == ["created", "claimed"]


def test_list_tickets_oldest_first_and_by_status(factory):
    a, b, c = (open_one(factory, f"conversation-{n}") for n in "abc")
    with factory.begin() as s:
        tickets.claim(s, b, "agent-7")
        tickets.claim(s, c, "agent-8")
        tickets.close(s, c, "agent-8")
    with factory() as s:
        assert [t.id for t in tickets.list_tickets(s)] == [a, b]
        assert [t.id for t in tickets.list_tickets(s, (tickets.OPEN,))] == [a]
        assert [t.id for t in tickets.list_tickets(s, (tickets.CLAIMED,))] == [b]
        assert [t.id for t in tickets.list_tickets(s, (tickets.CLOSED,))] == [c]
        assert [t.id for t in tickets.list_tickets(s, tickets.STATUSES)] == [a, b, c]
        assert [t.id for t in tickets.list_tickets(s, tickets.STATUSES, limit=2)] == [a, b]


def test_signed_in_merchants_tickets_come_before_a_flood_of_anonymous_ones_page_by_page(factory):
    flood = [open_one(factory, f"anonymous-{n}", merchant_id=None, channel="rest") for n in range(5)]
    merchant = open_one(factory, "merchant:M1002:x", merchant_id="M1002")
    with factory() as s:
        first = [t.id for t in tickets.list_tickets(s, limit=2)]
        second = [t.id for t in tickets.list_tickets(s, limit=2, offset=2)]
        rest = [t.id for t in tickets.list_tickets(s, limit=2, offset=4)]
        assert first + second + rest == [merchant] + flood
        assert tickets.count_tickets(s) == 6 and tickets.count_tickets(s, (tickets.CLOSED,)) == 0


def test_claim_is_exclusive(factory):
    ticket_id = open_one(factory)
    with factory.begin() as s:
        ticket = tickets.claim(s, ticket_id, "agent-7")
        assert (ticket.status, ticket.claimed_by) == ("claimed", "agent-7")
        assert ticket.claimed_at is not None
    with factory.begin() as s, pytest.raises(tickets.TicketConflict, match="claimed by agent-7"):
        tickets.claim(s, ticket_id, "agent-8")
    with factory.begin() as s:  # claiming one's own ticket again is allowed
        assert tickets.claim(s, ticket_id, "agent-7").claimed_by == "agent-7"
    with factory() as s:
        ticket = s.get(HandoffTicket, ticket_id)
        assert (ticket.status, ticket.claimed_by) == ("claimed", "agent-7")
    # One "claimed" event: the second claim changed nothing.
    assert kinds(factory, ticket_id) == [("created", None, "requested", False),
                                         ("claimed", "agent-7", "", False)]


def test_claim_of_a_closed_or_missing_ticket(factory):
    ticket_id = open_one(factory)
    with factory.begin() as s:
        tickets.claim(s, ticket_id, "agent-7")
        tickets.close(s, ticket_id, "agent-7")
    with factory.begin() as s, pytest.raises(tickets.TicketConflict, match="is closed"):
        tickets.claim(s, ticket_id, "agent-7")
    with factory.begin() as s, pytest.raises(tickets.TicketNotFound):
        tickets.claim(s, ticket_id + 100, "agent-7")


def test_held_by_only_the_claiming_agent(factory):
    ticket_id = open_one(factory)
    with factory() as s, pytest.raises(tickets.TicketConflict, match="is open; claim it first"):
        tickets.held_by(s, ticket_id, "agent-7")
    with factory.begin() as s:
        tickets.claim(s, ticket_id, "agent-7")
    with factory() as s:
        assert tickets.held_by(s, ticket_id, "agent-7").id == ticket_id
    with factory() as s, pytest.raises(tickets.TicketConflict, match="claimed by agent-7"):
        tickets.held_by(s, ticket_id, "agent-8")
    with factory() as s, pytest.raises(tickets.TicketNotFound):
        tickets.held_by(s, ticket_id + 100, "agent-7")


def test_close_only_by_the_holder(factory):
    ticket_id = open_one(factory)
    with factory.begin() as s, pytest.raises(tickets.TicketConflict, match="is open"):
        tickets.close(s, ticket_id, "agent-7")  # nobody has claimed it
    with factory.begin() as s:
        tickets.claim(s, ticket_id, "agent-7")
    with factory.begin() as s, pytest.raises(tickets.TicketConflict, match="claimed by agent-7"):
        tickets.close(s, ticket_id, "agent-8")
    with factory() as s:
        assert s.get(HandoffTicket, ticket_id).status == "claimed"
    with factory.begin() as s:
        closed = tickets.close(s, ticket_id, "agent-7")
        assert closed.status == "closed" and closed.closed_at is not None
    with factory.begin() as s, pytest.raises(tickets.TicketConflict, match="is closed"):
        tickets.close(s, ticket_id, "agent-7")


def test_add_event_records_actor_and_outbox_flag(factory):
    ticket_id = open_one(factory)
    with factory.begin() as s:
        tickets.claim(s, ticket_id, "agent-7")
        event = tickets.add_event(s, ticket_id, "agent_message", "agent-7", "您好,我是客服小李",
                                  for_merchant=True)
        assert event.id is not None
        tickets.add_event(s, ticket_id, "note", "agent-7", "商家问第20条")
    assert kinds(factory, ticket_id)[2:] == [("agent_message", "agent-7", "您好,我是客服小李", True),
                                             ("note", "agent-7", "商家问第20条", False)]
    with factory() as s:
        assert s.execute(select(TicketEvent.delivered_at)
                         .where(TicketEvent.kind == "agent_message")).scalar_one() is None


def test_take_outgoing_delivers_each_message_once_in_order(factory):
    mine = open_one(factory, "merchant:M1001:abc")
    theirs = open_one(factory, "merchant:M1002:def")
    with factory.begin() as s:
        tickets.claim(s, mine, "agent-7")
        tickets.claim(s, theirs, "agent-8")
        tickets.add_event(s, mine, "agent_message", "agent-7", "第一条", for_merchant=True)
        tickets.add_event(s, theirs, "agent_message", "agent-8", "别人的", for_merchant=True)
        tickets.add_event(s, mine, "note", "agent-7", "内部备注")
        tickets.add_event(s, mine, "assistant_answer", "agent-7", "第二条", for_merchant=True)
    with factory.begin() as s:
        taken = tickets.take_outgoing(s, "merchant:M1001:abc")
    assert [(o.ticket_id, o.kind, o.text) for o in taken] == [(mine, "agent_message", "第一条"),
                                                               (mine, "assistant_answer", "第二条")]
    assert all(o.at is not None for o in taken)
    with factory.begin() as s:
        assert tickets.take_outgoing(s, "merchant:M1001:abc") == []
        tickets.close(s, mine, "agent-7")
        tickets.add_event(s, mine, "handed_back", "agent-7", "已交回智能助手", for_merchant=True)
    with factory.begin() as s:
        assert [(o.kind, o.text) for o in tickets.take_outgoing(s, "merchant:M1001:abc")] == [
            ("handed_back", "已交回智能助手")]
    with factory.begin() as s:
        assert [o.text for o in tickets.take_outgoing(s, "merchant:M1002:def")] == ["别人的"]
        assert tickets.take_outgoing(s, "nobody") == []
    with factory() as s:
        undelivered = s.execute(select(TicketEvent).where(TicketEvent.for_merchant.is_(True),
                                                          TicketEvent.delivered_at.is_(None))).all()
        assert undelivered == []


def test_messages_not_taken_when_the_transaction_fails(factory):
    ticket_id = open_one(factory)
    with factory.begin() as s:
        tickets.add_event(s, ticket_id, "agent_message", "agent-7", "稍等", for_merchant=True)
    with pytest.raises(RuntimeError):
        with factory.begin() as s:
            assert [o.text for o in tickets.take_outgoing(s, "merchant:M1001:abc")] == ["稍等"]
            raise RuntimeError("the channel could not send")
    with factory.begin() as s:
        assert [o.text for o in tickets.take_outgoing(s, "merchant:M1001:abc")] == ["稍等"]
