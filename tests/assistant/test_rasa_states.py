"""assistant.engine.states gives what Rasa's own tracker copy, applied events and dialogue states give.

Conversations are grown one event at a time, as the dialogue grows them, from our test stories (forms,
side questions, restarts, hand-offs) and from hand-made event lists with reverts and new sessions; after
every event both implementations must agree.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    Event,
    LoopInterrupted,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.generator import TrainingDataGenerator
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.core.training_data.structures import StoryGraph

from assistant.engine import states as rasa_states
from assistant.settings import ROOT

#: Where the conversations replayed come from: our test stories and the training rules.
STORY_FOLDERS = ("tests/stories", "nlu_data/rules")
RULE_ONLY = {"rule_only_slots": ["suspended", "return_to"], "rule_only_loops": ["guide_form"]}
WAYS = [
    {},  # the rule policy
    {"ignore_rule_only_turns": True, "rule_only_data": RULE_ONLY},  # memoization
    {"omit_unset_slots": True},
]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "nlu_data" / "domain"))


@pytest.fixture
def replacements() -> Iterator[None]:
    rasa_states.install()
    yield
    rasa_states.uninstall()


def story_conversations(domain: Domain, folders: tuple[str, ...] = STORY_FOLDERS) -> list[list[Event]]:
    steps = []
    for folder in folders:
        for path in sorted((ROOT / folder).glob("*.yml")):
            steps += YAMLStoryReader(domain, source_name=str(path)).read_from_file(path)
    generator = TrainingDataGenerator(StoryGraph(steps), domain, remove_duplicates=False, augmentation_factor=0)
    return [list(t.events) for t in generator.generate_story_trackers()]


def hand_made_conversations() -> list[list[Event]]:
    """What stories do not show: reverts, an interrupted form, a new session, a restart."""
    hello = UserUttered("xin chào", {"name": "greet", "confidence": 1.0})
    passport = UserUttered("làm hộ chiếu", {"name": "ask_procedure", "confidence": 1.0})
    fee = UserUttered("bao nhiêu tiền", {"name": "ask_procedure", "confidence": 0.9})
    listen = "action_listen"
    return [
        [
            ActionExecuted(listen), hello, ActionExecuted("utter_greet"), ActionExecuted(listen), passport,
            ActionExecuted("action_answer_procedure"), SlotSet("procedure", "ho-chieu"), ActionExecuted(listen),
            fee, UserUtteranceReverted(), ActionExecuted(listen), fee, ActionExecuted("action_answer_procedure"),
            ActionReverted(), ActionExecuted("action_default_fallback"), ActionExecuted(listen),
        ],
        [
            ActionExecuted(listen), passport, ActionExecuted("guide_form"), ActiveLoop("guide_form"),
            SlotSet("requested_slot", "guide_answers"), ActionExecuted(listen), fee,
            ActionExecuted("action_answer_procedure", hide_rule_turn=True), LoopInterrupted(True),
            ActionExecuted("guide_form"), SlotSet("suspended", True), ActionExecuted(listen), hello,
            ActionExecuted("guide_form"), ActionExecuted("guide_form"), ActiveLoop(None), ActionExecuted(listen),
            SessionStarted(), ActionExecuted(listen), passport, ActionExecuted("action_answer_procedure"),
            Restarted(), ActionExecuted(listen), hello, ActionExecuted("utter_greet"),
        ],
    ]


def tracker_state(tracker: DialogueStateTracker) -> dict[str, Any]:
    return {
        "events": list(tracker.events),
        "slots": {name: (slot.value, slot.has_been_set) for name, slot in tracker.slots.items()},
        "vars": {k: v for k, v in vars(tracker).items() if k not in ("events", "slots", "_assistant_applied")},
    }


def grow(domain: Domain, sender: str, events: list[Event]) -> Iterator[DialogueStateTracker]:
    """The conversation's tracker after each of its events (one tracker, updated as the dialogue does)."""
    tracker = DialogueStateTracker(sender, domain.slots)
    for event in events:
        tracker.update(event, domain)
        yield tracker


def check_same(domain: Domain, conversations: list[list[Event]]) -> int:
    """Compare both implementations after every event; return how many trackers were compared."""
    compared = 0
    for n, events in enumerate(conversations):
        for tracker in grow(domain, f"c{n}", events):
            rasa_states.install()
            fast = {
                "copy": tracker_state(tracker.copy()),
                "applied": tracker.applied_events(),
                # asked twice, as the rule policy does (with and without the text): the second is the kept result
                "states": [[domain.states_for_tracker_history(tracker, **way) for _ in "12"] for way in WAYS],
            }
            rasa_states.uninstall()
            slow = {
                "copy": tracker_state(tracker.copy()),
                "applied": tracker.applied_events(),
                "states": [[domain.states_for_tracker_history(tracker, **way)] * 2 for way in WAYS],
            }
            assert fast == slow, f"conversation {n} after {len(tracker.events)} events"
            compared += 1
    return compared


def test_the_same_as_rasa_on_every_prefix_of_our_stories(domain: Domain) -> None:
    conversations = story_conversations(domain)
    assert len(conversations) > 50
    assert check_same(domain, conversations) > 900


def test_the_same_as_rasa_with_reverts_forms_sessions_and_restarts(domain: Domain) -> None:
    assert check_same(domain, hand_made_conversations()) == sum(len(c) for c in hand_made_conversations())


def test_a_form_trial_tracker_is_the_one_rasa_replays(domain: Domain) -> None:
    """What a form validates on: the conversation plus the form's trial events, as ``from_events`` builds it."""
    trial_events = [SlotSet("requested_slot", "guide_answers"), ActionExecuted("guide_form"), SlotSet("procedure", "ho-chieu")]
    compared = 0
    for n, events in enumerate(story_conversations(domain)[:40] + hand_made_conversations()):
        for tracker in grow(domain, f"f{n}", events):
            fast = rasa_states.form_trial_tracker(tracker, list(trial_events), domain.slots)
            slow = DialogueStateTracker.from_events(
                tracker.sender_id, tracker.events_after_latest_restart() + list(trial_events), slots=domain.slots
            )
            assert tracker_state(fast) == tracker_state(slow), f"conversation {n} after {len(tracker.events)} events"
            assert fast.slots is not tracker.slots and len(fast.events) == len(tracker.events_after_latest_restart()) + 3
            compared += 1
    assert compared > 300


def test_states_are_built_on_not_rebuilt(domain: Domain, replacements: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each new event adds its state; earlier ones are not computed again."""
    conversation = story_conversations(domain)[0]
    computed = []
    active_state = Domain.get_active_state

    def counting(self: Domain, tracker: DialogueStateTracker, omit_unset_slots: bool = False) -> Any:
        computed.append(len(tracker.events))
        return active_state(self, tracker, omit_unset_slots=omit_unset_slots)

    monkeypatch.setattr(Domain, "get_active_state", counting)
    for tracker in grow(domain, "grown", conversation):
        domain.states_for_tracker_history(tracker)
        domain.states_for_tracker_history(tracker)  # asked again with nothing new: nothing computed
    # each point of the conversation gets its state computed once (the first also before its action):
    # linear, not quadratic, in the conversation's length
    assert len(computed) == len(conversation) + 1


def test_callers_may_change_the_states_they_get(domain: Domain, replacements: None) -> None:
    """Rasa's featurizers delete keys from the states they are given: that must not reach the next call."""
    tracker = DialogueStateTracker("mutated", domain.slots)
    for event in hand_made_conversations()[0][:6]:
        tracker.update(event, domain)
    first = domain.states_for_tracker_history(tracker)
    expected = copy.deepcopy(domain.states_for_tracker_history(tracker))
    for state in first:  # what Rasa 3.6's featurizers do to them
        state.get("user", {}).pop("intent", None)
        state.get("user", {}).pop("text", None)
        state.pop("user", None)
    assert domain.states_for_tracker_history(tracker) == expected
    assert any("user" in state for state in expected)


def test_a_copy_is_independent_of_its_original(domain: Domain, replacements: None) -> None:
    tracker = DialogueStateTracker("original", domain.slots)
    for event in hand_made_conversations()[1][:5]:
        tracker.update(event, domain)
    clone = tracker.copy()
    clone.update(SlotSet("procedure", "ho-chieu"))
    clone.update(LoopInterrupted(True))  # changes the active loop in place
    assert tracker.get_slot("procedure") is None
    assert tracker.active_loop_name == "guide_form" and not tracker.active_loop.is_interrupted
    assert clone.active_loop.is_interrupted
    assert len(tracker.events) == len(clone.events) - 2


def test_installed_only_between_install_and_uninstall() -> None:
    original = DialogueStateTracker.copy
    rasa_states.install()
    assert rasa_states.installed() and DialogueStateTracker.copy is not original
    rasa_states.uninstall()
    assert not rasa_states.installed() and DialogueStateTracker.copy is original
