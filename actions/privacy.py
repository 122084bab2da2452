"""Deleting a citizen's data at their request ("xóa dữ liệu của tôi").

The question and its confirmation are rules (``nlu_data/rules/privacy.yml``). This action only tells the
citizen their data is gone: once it has run in a turn, :class:`assistant.engine.ConversationEngine` deletes the
conversation's stored events and, through :func:`assistant.retention.forget_conversation`, their hand-offs,
feedback and outbox messages. The next message starts a new, empty conversation.
"""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

DELETED_TEXT = (
    "Đã xóa cuộc trò chuyện này và những gì trợ lý đã lưu về bạn. "
    "Khi cần, bạn cứ nhắn để bắt đầu lại từ đầu."
)


class ActionDeleteMyData(Action):
    """Confirm the deletion to the citizen (the engine deletes after this action runs)."""

    def name(self) -> str:
        return "action_delete_my_data"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        dispatcher.utter_message(text=DELETED_TEXT)
        return []
