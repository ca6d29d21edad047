"""The dialogue policy: Rasa's RulePolicy, named by class path in config.yml
(`bot.policies.RecentRulePolicy`), whose cost per turn does not grow with the conversation.

RulePolicy turns the whole session into dialogue states on every prediction (two or more per
turn), replaying every event of the session each time: turn 500 of one conversation cost the
Rasa process about five times turn 1. Yet a rule is matched against the last states only (as
many as the longest rule has): states further back never change which rules apply
(`RulePolicy._is_rule_applicable` accepts every state past a rule's length). So this policy
hands RulePolicy the same last states, one more than the longest rule, computed turn by turn:
for each conversation it keeps a replayed copy of the dialogue so far and replays only the
events added since the last prediction, as long as those are plain additions. Anything that
rewinds or resets the dialogue (a restart, a new session, an undo, a rewind) starts that
conversation over from its events, as Rasa does; a conversation with a form (an active loop,
whose later events change how earlier ones count) is left to RulePolicy as it is.

Rasa's training warns that RulePolicy is not configured (it looks for that exact class): the
default intents `restart` and `back` still trigger their actions, as this subclass keeps
RulePolicy's own logic for them, and the check of the fallback action against the domain,
which Rasa also makes for that class only, is made here when the policy trains.
"""
from __future__ import annotations

import copy
import itertools
import json
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, List, Optional, Set, Text, Tuple

from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH, RulePolicy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.constants import DEFAULT_SENDER_ID
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import ActionExecuted, ActiveLoop, Event
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_store import appended
from core import settings

# The events a replay keeps: nothing reads them (a state is made from the replay's slots,
# latest message and latest action), so a replay's memory does not grow with its session.
REPLAY_EVENTS = 16
# Rule matches remembered by RecentRulePolicy (by rules and states; a few hundred kinds of
# turn in practice), forgotten all at once beyond this many.
POSSIBLE_KEYS_KEPT = 4096


@dataclass
class _Replay:
    """One conversation's dialogue as replayed so far."""

    domain: Domain
    events: int  # how many of the conversation's events are replayed
    last: Event  # the last of them (the very object: another process's events are new ones)
    tracker: DialogueStateTracker
    states: Deque[State] = field(default_factory=deque)


def _copied(value: Any) -> Any:
    """`copy.deepcopy` of a dialogue state (dicts of dicts of strings, numbers and tuples of
    them): the containers that can change copied, the values that cannot shared."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, tuple) and all(isinstance(item, (str, int, float, bool)) for item in value):
        return value
    return copy.deepcopy(value)


class _States:
    """What `tracker.past_states()` gives the featurizer: here, the last states only."""

    def __init__(self, states: List[State]) -> None:
        self._states = states

    def past_states(self, *_args: Any, **_kwargs: Any) -> List[State]:
        return self._states


class RecentStates:
    """The last `keep` dialogue states of each conversation (the states before each action,
    then the current one, as `Domain.states_for_tracker_history` makes them), continued from
    one prediction to the next."""

    def __init__(self, keep: int, conversations: Optional[int] = None) -> None:
        self.keep = keep
        # As many as the tracker store keeps (TRACKER_KEPT_CONVERSATIONS): the others' next
        # turn is read from the database, as new event objects, and replayed whole anyway.
        self.conversations = settings.kept_conversations() if conversations is None else conversations
        self._replays: "OrderedDict[str, _Replay]" = OrderedDict()

    def states(self, tracker: DialogueStateTracker, domain: Domain) -> Optional[List[State]]:
        """The last `keep` states of `tracker`'s dialogue, or None for a dialogue that must
        be read whole (a form's) and for the training data's trackers (RulePolicy checks its
        rules against them while it trains, before it knows their length)."""
        if (tracker.is_rule_tracker or isinstance(tracker, TrackerWithCachedStates)
                or tracker.active_loop_name or not tracker.events):
            return None
        replay = self._continued(tracker, domain)
        if replay is None:
            replay = self._replayed(tracker, domain)
            if replay is None:
                self._replays.pop(tracker.sender_id, None)
                return None
        self._replays[tracker.sender_id] = replay
        self._replays.move_to_end(tracker.sender_id)
        while len(self._replays) > self.conversations:
            self._replays.popitem(last=False)
        # The states are the featurizer's to change (it drops texts and intents in place).
        states = [*replay.states, self._state(replay.tracker, domain)][-self.keep:]
        return [_copied(state) for state in states]

    def _continued(self, tracker: DialogueStateTracker, domain: Domain) -> Optional[_Replay]:
        replay = self._replays.get(tracker.sender_id)
        if replay is None or replay.domain is not domain:
            return None
        added = appended(tracker.events, replay.events, replay.last)
        if added is None:
            return None
        for event in added:
            self._update(replay, event, domain)
        replay.events, replay.last = len(tracker.events), tracker.events[-1]
        return replay

    def _replayed(self, tracker: DialogueStateTracker, domain: Domain) -> Optional[_Replay]:
        """From the start, as `DialogueStateTracker.generate_all_prior_trackers` replays."""
        if any(isinstance(e, ActiveLoop) for e in tracker.events):
            return None
        # As tracker.init_copy(), with few events kept.
        start = DialogueStateTracker(tracker.sender_id or DEFAULT_SENDER_ID, tracker.slots.values(),
                                     REPLAY_EVENTS, is_rule_tracker=tracker.is_rule_tracker)
        replay = _Replay(domain, len(tracker.events), tracker.events[-1], start, deque(maxlen=self.keep))
        for event in tracker.applied_events():
            self._update(replay, event, domain)
        return replay

    def _update(self, replay: _Replay, event: Event, domain: Domain) -> None:
        if isinstance(event, ActionExecuted):
            replay.states.append(self._state(replay.tracker, domain))
        replay.tracker.update(event)

    @staticmethod
    def _state(tracker: DialogueStateTracker, domain: Domain) -> State:
        return domain._clean_state(domain.get_active_state(tracker))


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class RecentRulePolicy(RulePolicy):
    """RulePolicy matching rules against the last states of a conversation, computed turn by
    turn instead of from the whole session on every prediction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recent: Optional[RecentStates] = None
        # Only for a loaded policy, whose rules no longer change (training changes them).
        self._remember_keys = False
        self._keys: Dict[Tuple[int, str], Set[Text]] = {}
        self._lookups: Dict[int, Dict[Text, Text]] = {}

    @classmethod
    def load(cls, *args: Any, **kwargs: Any) -> "RecentRulePolicy":
        policy = super().load(*args, **kwargs)
        policy._remember_keys = True
        return policy

    def _get_possible_keys(self, lookup: Dict[Text, Text], states: List[State]) -> Set[Text]:
        """RulePolicy's own, remembered for the same rules and states: it checks every rule
        against every state (about a fifth of the policy's time per prediction), and the
        states of one kind of turn recur from conversation to conversation."""
        if not self._remember_keys:
            return super()._get_possible_keys(lookup, states)
        try:
            key = (id(lookup), json.dumps(states, sort_keys=True))
        except (TypeError, ValueError):  # a state JSON cannot hold: not remembered
            return super()._get_possible_keys(lookup, states)
        # The rules are known by identity: kept here, their id stays theirs.
        if self._lookups.setdefault(id(lookup), lookup) is not lookup:
            return super()._get_possible_keys(lookup, states)
        found = self._keys.get(key)
        if found is None:
            if len(self._keys) >= POSSIBLE_KEYS_KEPT:
                self._keys.clear()
            found = self._keys[key] = super()._get_possible_keys(lookup, states)
        return set(found)

    def train(self, training_trackers: List[TrackerWithCachedStates], domain: Domain,
              **kwargs: Any) -> Resource:
        # Rasa's training checks this for RulePolicy by its exact class only.
        self.raise_if_incompatible_with_domain(self.config, domain)
        return super().train(training_trackers, domain, **kwargs)

    def _longest_rule(self) -> int:
        keys = itertools.chain(self.lookup.get(RULES, {}), self.lookup.get(RULES_FOR_LOOP_UNHAPPY_PATH, {}))
        return max((len(self._rule_key_to_state(key)) for key in keys), default=0)

    def _prediction_states(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        use_text_for_last_user_input: bool = False,
        rule_only_data: Optional[Dict[Text, Any]] = None,
    ) -> List[State]:
        if self._recent is None:
            # One state more than the longest rule: every rule sees all its states, as when
            # matched against the whole session.
            self._recent = RecentStates(self._longest_rule() + 1)
        states = self._recent.states(tracker, domain)
        if states is None:
            return super()._prediction_states(tracker, domain, use_text_for_last_user_input,
                                              rule_only_data)
        # The featurizer's own post-processing (last user input as text or intent, ...).
        return self.featurizer.prediction_states(
            [_States(states)],
            domain,
            use_text_for_last_user_input=use_text_for_last_user_input,
            ignore_rule_only_turns=False,
            rule_only_data=rule_only_data,
        )[0]
