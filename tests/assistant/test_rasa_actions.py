"""Our custom actions run in process (assistant/engine/actions.py): Rasa's RemoteAction without an endpoint or HTTP."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_sdk import Action
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection as SdkRejection

from assistant.engine import actions as rasa_actions

DOMAIN = Domain.from_dict({"slots": {"procedure": {"type": "text", "mappings": [{"type": "custom"}]}}})


class Answer(Action):
    def name(self) -> str:
        return "action_answer"

    def run(self, dispatcher: Any, tracker: Any, domain: Any) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=f"Chào {tracker.sender_id}", buttons=[{"title": "Tiếp", "payload": "/next"}])
        return [{"event": "slot", "name": "procedure", "value": "ho-chieu"}]


class Broken(Action):
    def name(self) -> str:
        return "action_broken"

    def run(self, dispatcher: Any, tracker: Any, domain: Any) -> list[dict[str, Any]]:
        raise KeyError("procedure")


class Rejecting(Action):
    def name(self) -> str:
        return "action_rejecting"

    def run(self, dispatcher: Any, tracker: Any, domain: Any) -> list[dict[str, Any]]:
        raise SdkRejection("action_rejecting", "not now")


@pytest.fixture
def executor() -> Iterator[ActionExecutor]:
    executor = ActionExecutor()
    for action in (Answer, Broken, Rejecting):
        executor.register_action(action)
    rasa_actions.install_in_process_actions(executor)
    yield executor
    rasa_actions.uninstall_in_process_actions()


async def run(name: str) -> list[Any]:
    tracker = DialogueStateTracker("rest:citizen-9", DOMAIN.slots)
    nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
    return await RemoteAction(name, None).run(CollectingOutputChannel(), nlg, tracker, DOMAIN)


async def test_rasa_actions_action_runs_in_process_without_endpoint(executor: ActionExecutor) -> None:
    events = await run("action_answer")
    assert isinstance(events[0], BotUttered) and events[0].text == "Chào rest:citizen-9"
    assert events[0].data["buttons"] == [{"title": "Tiếp", "payload": "/next"}]
    assert events[1:] == [SlotSet("procedure", "ho-chieu")]


async def test_rasa_actions_action_that_raises_gives_apology_and_handoff(
    executor: ActionExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="assistant.engine.actions"):
        [event] = await run("action_broken")
    assert event.text == rasa_actions.ACTION_FAILED_TEXT
    assert event.data["buttons"] == [rasa_actions.HANDOFF_BUTTON]
    assert "action_broken failed in conversation rest:citizen-9" in caplog.text


async def test_rasa_actions_unknown_action_gives_apology_not_silence(executor: ActionExecutor) -> None:
    [event] = await run("action_not_registered")
    assert event.text == rasa_actions.ACTION_FAILED_TEXT


async def test_rasa_actions_rejection_reaches_rasa_as_its_own(executor: ActionExecutor) -> None:
    with pytest.raises(ActionExecutionRejection):
        await run("action_rejecting")


async def test_rasa_actions_unreachable_action_server_gives_apology() -> None:
    from rasa.utils.endpoints import EndpointConfig

    rasa_actions.install_in_process_actions(None)
    try:
        tracker = DialogueStateTracker("rest:citizen-9", DOMAIN.slots)
        action = RemoteAction("action_answer", EndpointConfig(url="http://127.0.0.1:9/webhook", token="t"))
        [event] = await action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator({}), tracker, DOMAIN)
    finally:
        rasa_actions.uninstall_in_process_actions()
    assert event.text == rasa_actions.ACTION_FAILED_TEXT


def test_rasa_actions_uninstall_restores_rasa() -> None:
    original = RemoteAction.run
    rasa_actions.install_in_process_actions(ActionExecutor())
    rasa_actions.install_in_process_actions(ActionExecutor())
    assert RemoteAction.run is not original
    rasa_actions.uninstall_in_process_actions()
    assert RemoteAction.run is original
