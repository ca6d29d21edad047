"""bench/trackers.py: the two ways of fetching a tracker it compares both run, and the
one it names caught up does not read the session whole."""
from __future__ import annotations

from bench import trackers


async def test_both_ways_are_timed_and_catching_up_reads_no_session(tmp_path, monkeypatch):
    reads: list = []
    original = trackers.SQLConversationStore._event_query

    def spy(self, session, sender_id, **kwargs):
        reads.append(sender_id)
        return original(self, session, sender_id, **kwargs)

    monkeypatch.setattr(trackers.SQLConversationStore, "_event_query", spy)
    url = f"sqlite:///{tmp_path / 'trackers.db'}"
    assert await trackers.per_retrieve(url, catch_up=True, conversations=2, turns=4) > 0
    # Each conversation is read once, by the store that fetches it second (the first found
    # nothing stored, so read nothing); then both catch up.
    assert len(reads) == 2
    reads.clear()
    assert await trackers.per_retrieve(url, catch_up=False, conversations=2, turns=4) > 0
    assert len(reads) == 2 * 3  # every turn but the first (nothing stored yet)
