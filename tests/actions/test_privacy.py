"""actions/privacy.py: the action the engine deletes a conversation after, and what the citizen reads."""

from __future__ import annotations

from typing import Any

from rasa_sdk.executor import CollectingDispatcher

from actions.privacy import DELETED_TEXT, ActionDeleteMyData
from assistant.engine import FORGET_ACTION


async def test_privacy_action_is_the_one_the_engine_deletes_after(dispatcher: CollectingDispatcher, tracker_from: Any) -> None:
    action = ActionDeleteMyData()
    assert action.name() == FORGET_ACTION
    events = await action.run(dispatcher, tracker_from(intent="confirm_delete_my_data"), {})
    assert events == []
    assert [m["text"] for m in dispatcher.messages] == [DELETED_TEXT]
