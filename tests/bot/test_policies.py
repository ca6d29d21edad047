"""The dialogue policy (bot/policies.py): RulePolicy given the last states of a conversation,
computed turn by turn. Every test compares with what Rasa computes from the whole session, so
a change in Rasa's states or replay shows here."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import List

import pytest
from rasa.core.policies.rule_policy import RulePolicy
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain, InvalidDomain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    DefinePrevUserUtteredFeaturization,
    Event,
    FollowupAction,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.policies import REPLAY_EVENTS, RecentRulePolicy, RecentStates
from bot.tracker_store import snapshot

DOMAIN = Domain.load(str(Path(__file__).resolve().parents[2] / "domain.yml"))
INTENTS = ["ask_programme", "affirm", "deny", "greet", "ask_tier_status", "nlu_fallback"]


def _turn(rng: random.Random, n: int) -> List[Event]:
    """A turn as the assistant logs it: listen, the message, the action, its events."""
    intent = rng.choice(INTENTS)
    events: List[Event] = [
        ActionExecuted("action_listen"),
        UserUttered(f"第{n}个问题", {"name": intent, "confidence": 0.9},
                    [{"entity": "tier", "value": "gold"}] if rng.random() < 0.3 else []),
        DefinePrevUserUtteredFeaturization(False),
        ActionExecuted(rng.choice(["action_answer_programme", "action_clarify", "utter_greet"])),
        BotUttered(f"第{n}个回答"),
        SlotSet("pending_offer", rng.choice([None, "handoff", "check_status"])),
    ]
    extra = rng.random()
    if extra < 0.05:
        events += [ConversationPaused(), ConversationResumed()]
    elif extra < 0.1:
        events.append(FollowupAction("action_listen"))
    return events


def _expected(tracker: DialogueStateTracker, keep: int) -> list:
    return DOMAIN.states_for_tracker_history(tracker)[-keep:]


def test_the_last_states_are_rasas_turn_after_turn():
    rng = random.Random(7)
    recent = RecentStates(keep=4)
    tracker = DialogueStateTracker.from_events("m-1", [ActionExecuted("action_session_start"),
                                                       SessionStarted()], DOMAIN.slots)
    for n in range(60):
        tracker = snapshot(tracker)  # each turn works on its own copy, as the store gives it
        tracker.update_with_events(_turn(rng, n), DOMAIN)
        assert recent.states(tracker, DOMAIN) == _expected(tracker, 4), f"turn {n}"
        assert recent.states(tracker, DOMAIN) == _expected(tracker, 4), "asked twice"


@pytest.mark.parametrize("rewind", [
    [Restarted()], [ActionExecuted("action_session_start"), SessionStarted()],
    [UserUtteranceReverted()], [ActionReverted()],
], ids=["restart", "new session", "rewind", "undo"])
def test_a_rewound_dialogue_is_replayed_from_its_events(rewind):
    rng = random.Random(3)
    recent = RecentStates(keep=3)
    tracker = DialogueStateTracker.from_events("m-1", [], DOMAIN.slots)
    for n in range(8):
        tracker.update_with_events(_turn(rng, n), DOMAIN)
        recent.states(tracker, DOMAIN)
    tracker.update_with_events(rewind, DOMAIN)
    assert recent.states(tracker, DOMAIN) == _expected(tracker, 3)
    tracker.update_with_events(_turn(rng, 9), DOMAIN)
    assert recent.states(tracker, DOMAIN) == _expected(tracker, 3)


def test_events_written_by_another_process_are_read_whole():
    rng = random.Random(5)
    recent = RecentStates(keep=3)
    events = [e for n in range(6) for e in _turn(rng, n)]
    mine = DialogueStateTracker.from_events("m-1", events, DOMAIN.slots)
    recent.states(mine, DOMAIN)
    # The same conversation as another process left it: other event objects, other last turn.
    theirs = DialogueStateTracker.from_dict("m-1", [e.as_dict() for e in events[:-6]], DOMAIN.slots)
    theirs.update_with_events(_turn(rng, 99), DOMAIN)
    assert recent.states(theirs, DOMAIN) == _expected(theirs, 3)


def test_a_form_is_left_to_rasa():
    recent = RecentStates(keep=3)
    tracker = DialogueStateTracker.from_events("m-1", [ActionExecuted("action_listen"),
                                                       ActiveLoop("some_form")], DOMAIN.slots)
    assert recent.states(tracker, DOMAIN) is None
    tracker.update(ActiveLoop(None))
    assert recent.states(tracker, DOMAIN) is None, "a loop once active changes earlier events"


def test_conversations_kept_are_capped():
    recent = RecentStates(keep=2, conversations=3)
    for n in range(5):
        tracker = DialogueStateTracker.from_events(f"m-{n}", _turn(random.Random(n), n), DOMAIN.slots)
        recent.states(tracker, DOMAIN)
    assert list(recent._replays) == ["m-2", "m-3", "m-4"]


def _offer_rules(plain: RulePolicy) -> dict:
    """A rule as RulePolicy keys it: after action_clarify left an offer, the merchant says yes."""
    offer = DialogueStateTracker.from_events("rule", [
        ActionExecuted("action_listen"), UserUttered("问", {"name": "greet"}),
        ActionExecuted("action_clarify"), SlotSet("pending_offer", "handoff"),
        ActionExecuted("action_listen"), UserUttered("好的", {"name": "affirm"})], DOMAIN.slots)
    return {json.dumps(plain._prediction_states(offer, DOMAIN)[-2:], sort_keys=True): "action_handoff"}


def test_rules_match_the_last_states_as_the_whole_session(tmp_path):
    """The premise: past the longest rule, earlier states never change a rule's match."""
    storage, context = LocalModelStorage(tmp_path), ExecutionContext(GraphSchema({}), "test")
    policy = RecentRulePolicy(RecentRulePolicy.get_default_config(), storage, Resource("a"), context)
    plain = RulePolicy(RulePolicy.get_default_config(), storage, Resource("b"), context)
    rules = _offer_rules(plain)
    policy.lookup = plain.lookup = {"rules": rules, "rule_only_slots": [], "rule_only_loops": [],
                                    "rules_for_loop_unhappy_path": {}}
    rng = random.Random(11)
    tracker = DialogueStateTracker.from_events("m-1", [], DOMAIN.slots)
    matched = 0
    for n in range(60):
        turn = _turn(rng, n)
        tracker.update_with_events(turn[:3], DOMAIN)  # the merchant's message: now to predict
        full = plain._prediction_states(tracker, DOMAIN)
        last = policy._prediction_states(tracker, DOMAIN)
        assert last == full[-len(last):]
        assert plain._get_possible_keys(rules, last) == plain._get_possible_keys(rules, full)
        matched += bool(plain._get_possible_keys(rules, full))
        tracker.update_with_events(turn[3:], DOMAIN)
    assert len(last) == 3 < len(full)
    assert 0 < matched < 60, "the rule matched some turns and not others"


def test_a_replay_keeps_few_events_however_long_the_session():
    rng = random.Random(9)
    recent = RecentStates(keep=3)
    tracker = DialogueStateTracker.from_events("m-1", [], DOMAIN.slots)
    for n in range(100):
        tracker.update_with_events(_turn(rng, n), DOMAIN)
        assert recent.states(tracker, DOMAIN) == _expected(tracker, 3)
    assert len(recent._replays["m-1"].tracker.events) <= REPLAY_EVENTS < len(tracker.events)


def test_training_checks_the_fallback_action_against_the_domain_as_for_rule_policy(tmp_path):
    """Rasa's training makes this check for RulePolicy by its exact class only."""
    config = dict(RecentRulePolicy.get_default_config(), core_fallback_action_name="action_not_in_domain")
    policy = RecentRulePolicy(config, LocalModelStorage(tmp_path), Resource("p"),
                              ExecutionContext(GraphSchema({}), "test"))
    with pytest.raises(InvalidDomain):
        policy.train([], DOMAIN)


def test_the_default_intents_still_trigger_their_actions(tmp_path):
    policy = RecentRulePolicy(RecentRulePolicy.get_default_config(), LocalModelStorage(tmp_path),
                              Resource("p"), ExecutionContext(GraphSchema({}), "test"))
    policy.lookup = {"rules": {}, "rule_only_slots": [], "rule_only_loops": [],
                     "rules_for_loop_unhappy_path": {}}
    tracker = DialogueStateTracker.from_events("m-1", [ActionExecuted("action_listen"),
                                                       UserUttered("/restart", {"name": "restart"})],
                                               DOMAIN.slots)
    prediction = policy.predict_action_probabilities(tracker, DOMAIN)
    assert DOMAIN.action_names_or_texts[prediction.max_confidence_index] == "action_restart"


def test_the_training_data_trackers_are_left_to_rasa():
    from rasa.shared.core.generator import TrackerWithCachedStates
    events = _turn(random.Random(1), 0)
    training = TrackerWithCachedStates.from_events("story", events, DOMAIN.slots, domain=DOMAIN)
    assert RecentStates(keep=3).states(training, DOMAIN) is None
    assert RecentStates(keep=3).states(DialogueStateTracker.from_events("m-1", events, DOMAIN.slots),
                                       DOMAIN) == _expected(training, 3)


def test_a_loaded_policy_remembers_rule_matches_and_they_are_rasas(tmp_path):
    storage, context = LocalModelStorage(tmp_path), ExecutionContext(GraphSchema({}), "test")
    trained = RecentRulePolicy(RecentRulePolicy.get_default_config(), storage, Resource("a"), context)
    assert not trained._remember_keys, "while it trains, its rules change"
    policy = RecentRulePolicy.load(RecentRulePolicy.get_default_config(), storage, Resource("a"), context)
    assert policy._remember_keys
    plain = RulePolicy(RulePolicy.get_default_config(), storage, Resource("b"), context)
    rules = _offer_rules(plain)
    rng = random.Random(5)
    tracker = DialogueStateTracker.from_events("m-1", [], DOMAIN.slots)
    seen = []
    for n in range(40):
        turn = _turn(rng, n)
        tracker.update_with_events(turn[:3], DOMAIN)
        states = plain._prediction_states(tracker, DOMAIN)
        seen.append(states)
        assert policy._get_possible_keys(rules, states) == plain._get_possible_keys(rules, states)
        tracker.update_with_events(turn[3:], DOMAIN)
    assert policy._keys, "remembered"
    for states in seen:  # again, from memory
        found = policy._get_possible_keys(rules, states)
        assert found == plain._get_possible_keys(rules, states)
        found.add("changed by the caller")
    assert all("changed by the caller" not in keys for keys in policy._keys.values())
    other = dict(rules)  # other rules (another object): not answered from the first ones' memory
    other.clear()
    assert policy._get_possible_keys(other, seen[0]) == set()


def test_the_states_handed_out_are_copies_the_featurizer_may_change():
    from bot.policies import _copied
    state = {"user": {"intent": "ask_programme", "entities": ("tier", "aspect")},
             "slots": {"pending_offer": (1.0, 0.0, 0.0)}, "prev_action": {"action_name": "action_listen"},
             "other": {"nested": [{"a": 1}], "odd": {1, 2}}}
    copied = _copied(state)
    assert copied == state
    copied["user"].pop("intent")
    copied["other"]["nested"][0]["a"] = 2
    copied["other"]["odd"].add(3)
    assert state["user"]["intent"] == "ask_programme" and state["other"]["nested"][0]["a"] == 1
    assert state["other"]["odd"] == {1, 2}
    recent = RecentStates(keep=3)
    tracker = DialogueStateTracker.from_events("m-1", [], DOMAIN.slots)
    tracker.update_with_events(_turn(random.Random(2), 0)[:3], DOMAIN)
    handed = recent.states(tracker, DOMAIN)
    for state in handed:
        state.get("user", {}).clear()
    assert recent.states(tracker, DOMAIN) == _expected(tracker, 3)
