"""The cached action-response check accepts and rejects exactly what Rasa's own check does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

from assistant.engine import speedups as rasa_speedups

GOOD = [
    {"events": [{"event": "slot", "name": "procedure", "value": "ho-chieu"}], "responses": [{"text": "Xin chào"}]},
    {"events": [], "responses": []},
    {},
]
BAD = [
    {"events": [{"name": "procedure"}]},  # an event without its type
    {"events": "slot"},
    {"events": [{"event": "slot", "timestamp": "yesterday"}]},
]


@pytest.fixture()
def action() -> Iterator[RemoteAction]:
    yield RemoteAction("action_answer_procedure", None)
    rasa_speedups.uninstall()


@pytest.mark.parametrize("response", GOOD)
def test_valid_responses_pass_both_checks(action: RemoteAction, response: dict) -> None:
    assert action._validate_action_result(response)
    rasa_speedups.install()
    assert action._validate_action_result(response)


@pytest.mark.parametrize("response", BAD)
def test_invalid_responses_fail_both_checks_with_rasas_hint(action: RemoteAction, response: dict) -> None:
    with pytest.raises(ValidationError) as theirs:
        action._validate_action_result(response)
    rasa_speedups.install()
    with pytest.raises(ValidationError) as ours:
        action._validate_action_result(response)
    assert ours.value.message == theirs.value.message
    assert "Failed to validate Action server response" in ours.value.message


def test_install_is_idempotent_and_uninstall_restores_rasa(action: RemoteAction) -> None:
    original = RemoteAction._validate_action_result
    rasa_speedups.install()
    rasa_speedups.install()
    assert RemoteAction._validate_action_result is not original
    rasa_speedups.uninstall()
    assert RemoteAction._validate_action_result is original


def test_resolve_by_type_finds_what_rasas_scan_finds(action: RemoteAction) -> None:
    from rasa.shared.core.events import Event
    from rasa.shared.core.slots import Slot
    from rasa.shared.utils.common import all_subclasses

    event_names = {cls.type_name for cls in all_subclasses(Event)} | {"topic"}
    slot_names = {cls.type_name for cls in all_subclasses(Slot)}
    theirs = ({n: Event.resolve_by_type(n) for n in event_names}, {n: Slot.resolve_by_type(n) for n in slot_names})
    rasa_speedups.install()
    ours = ({n: Event.resolve_by_type(n) for n in event_names}, {n: Slot.resolve_by_type(n) for n in slot_names})
    assert ours == theirs
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no-such-event")


def test_resolve_by_type_sees_a_subclass_defined_later(action: RemoteAction) -> None:
    from rasa.shared.core.events import Event, UserUttered

    rasa_speedups.install()
    assert Event.resolve_by_type("user") is UserUttered

    class LateEvent(UserUttered):
        type_name = "late_event_for_test"

    assert Event.resolve_by_type("late_event_for_test") is LateEvent


@pytest.mark.slow
def test_sequential_graph_run_parses_and_predicts_as_dask() -> None:
    import asyncio

    from rasa.core.agent import Agent
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from assistant.model_store import latest_model
    from assistant.settings import ROOT

    path = latest_model(ROOT / "models")
    if path is None:
        pytest.skip("no trained model")
    agent = Agent.load(str(path))
    texts = ["xin chào", "làm hộ chiếu hết bao nhiêu tiền", "cần giấy tờ gì", "tiep", '/start_guide{"procedure": "ho-chieu"}']

    def run() -> list[Any]:
        loop = asyncio.new_event_loop()
        parsed = [loop.run_until_complete(agent.parse_message(t)) for t in texts]
        loop.close()
        predicted = []
        for parse in parsed:
            events = [ActionExecuted("action_listen"), UserUttered(parse["text"], parse["intent"], parse_data=parse)]
            tracker = DialogueStateTracker.from_events("t", events, agent.domain.slots)
            prediction = agent.processor._predict_next_with_tracker(tracker)
            predicted.append((prediction.max_confidence_index, prediction.policy_name, prediction.max_confidence))
        return [parsed, predicted]

    theirs = run()
    assert rasa_speedups.run_graph_in_order(agent.processor.graph_runner)
    assert not rasa_speedups.run_graph_in_order(agent.processor.graph_runner)  # once
    assert run() == theirs


def _events_of_every_kind() -> list[dict]:
    from rasa.shared.core import events as e

    return [
        ev.as_dict()
        for ev in [
            e.UserUttered("xin chào", {"name": "greet", "confidence": 0.9}, [{"entity": "x", "start": 0, "end": 1, "value": "x"}]),
            e.ActionExecuted("action_listen", policy="RulePolicy", confidence=1.0),
            e.SlotSet("procedure", "ho-chieu"),
            e.SlotSet("answers", {"vneid": "yes"}),
            e.BotUttered("Bước 1/5", {"buttons": [{"title": "Tiếp", "payload": "/next_step"}]}),
            e.ActiveLoop("guide_form"),
            e.ActiveLoop(None),
            e.FollowupAction("action_listen"),
            e.ConversationPaused(),
            e.ConversationResumed(),
            e.SessionStarted(),
            e.Restarted(),
            e.AllSlotsReset(),
            e.UserUtteranceReverted(),
            e.ActionReverted(),
            e.LoopInterrupted(True),
            e.ActionExecutionRejected("action_x"),
            e.EntitiesAdded([{"entity": "x", "value": "y", "start": 0, "end": 1}]),
            e.StoryExported(),
            e.AgentUttered("x"),
        ]
    ]


def _broken(event: dict) -> list[dict]:
    return [
        {**event, "timestamp": "hôm qua"},
        {**event, "metadata": 5},
        {**event, "event": "no_such_event"},
        {**event, "event": ["slot"]},
        {k: v for k, v in event.items() if k != "event"},
        {**event, "name": 5},
        {**event, "entities": "x"},
        {**event, "parse_data": {"intent": "greet"}},
    ]


def test_fast_check_agrees_with_rasas_on_every_event_kind(action: RemoteAction) -> None:
    original = RemoteAction._validate_action_result
    candidates = []
    for event in _events_of_every_kind():
        candidates += [{"events": [event]}, *({"events": [b]} for b in _broken(event))]
    candidates += [{"events": _events_of_every_kind(), "responses": [{"text": "a"}]}, {"responses": ["a"]}, {"events": {}}]
    for response in candidates:
        try:
            original(action, response)
            valid = True
        except ValidationError:
            valid = False
        if rasa_speedups._surely_valid(response):
            assert valid, response
        elif valid:  # the full check still accepts it
            assert rasa_speedups._validate_action_result(action, response)
    assert all(rasa_speedups._surely_valid({"events": [e]}) for e in _events_of_every_kind())


@pytest.mark.slow
def test_payload_parses_are_kept_and_equal_to_fresh_ones() -> None:
    import asyncio

    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage

    from assistant.model_store import latest_model
    from assistant.settings import ROOT

    path = latest_model(ROOT / "models")
    if path is None:
        pytest.skip("no trained model")
    agent = Agent.load(str(path))
    processor = agent.processor
    texts = ['/start_guide{"procedure": "ho-chieu"}', '/choose_option{"option": "yes"}', "/next_step", "tiếp", "/greet"]
    loop = asyncio.new_event_loop()
    fresh = [loop.run_until_complete(processor.parse_message(UserMessage(t))) for t in texts]
    cache = rasa_speedups.cache_payload_parses(processor, size=8)
    assert rasa_speedups.cache_payload_parses(processor) is cache
    for _ in range(2):
        kept = [loop.run_until_complete(processor.parse_message(UserMessage(t))) for t in texts]
        assert kept == fresh
        kept[0]["intent"]["name"] = "changed by a caller"  # a copy: the kept parse stays as it was
    loop.close()
    assert cache.hits == 4  # the four payloads, the second time; typed text is parsed each time
