"""Fallback chain, yes/no in context, ratings and the hand-off to staff."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import BUTTON_HUMAN, BUTTON_SERVICES, catalogue, entity, get_procedure
from actions.context import situation_cues
from actions.procedures import answer, choose_procedure_buttons, resume_button, walkthrough_buttons
from assistant.settings import get_settings
from assistant.text.normalize import expand_abbreviations

SHORT_UPDATE_WORDS = 8
# "mình ở Đà Nẵng", "nhà em ở Bình Dương", "tôi đang sống tại Huế" (folded)
_LIVES_IN = re.compile(r"^(minh|em|toi|tui|chau|anh|chi|nha (em|minh|toi))( (dang|hien|thi))? (o|song o|song tai|tai|o tai) \w+")


def situation_update(dispatcher: CollectingDispatcher, tracker: Tracker) -> Optional[List[EventType]]:
    """'Vợ em người Hàn Quốc', 'bé mới 3 tuổi': a message that only tells more about the citizen's case.

    When it answers an interview question of the procedure being talked about (and no other), the last
    aspect is answered again for that case. None when the message is not such an update.
    """
    key = tracker.get_slot("procedure")
    text = tracker.latest_message.get("text") or ""
    # Such updates are short; a long message is a question of its own ("tranh chấp thừa kế với anh em …").
    if not key or tracker.active_loop.get("name") or len(text.split()) > SHORT_UPDATE_WORDS:
        return None
    if _LIVES_IN.search(expand_abbreviations(text)):  # "mình ở Đà Nẵng": where to go for it
        return answer(dispatcher, tracker, key, "where")
    said = situation_cues().answers(key, text)
    if not said:
        return None
    return answer(dispatcher, tracker, key, tracker.get_slot("aspect") or "overview")


class ActionOutOfScope(Action):
    """Outside the 26 procedures: say so and where to ask — unless it only tells more about the case."""

    def name(self) -> str:
        return "action_out_of_scope"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        update = situation_update(dispatcher, tracker)
        if update is not None:
            return update
        dispatcher.utter_message(response="utter_out_of_scope")
        return []


class ActionFallback(Action):
    """Not understood: first 'did you mean…' with candidates, then the list of services or a person."""

    def name(self) -> str:
        return "action_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        update = situation_update(dispatcher, tracker)
        if update is not None:
            return update
        misses = int(tracker.get_slot("fallback_count") or 0) + 1
        text = tracker.latest_message.get("text") or ""
        keys = [r["key"] for r in tracker.latest_message.get("procedure_ranking") or []][:3]
        if not keys and misses == 1:
            keys = [hit.key for hit in catalogue().search(text, limit=3) if hit.score and hit.score > 0]
        if misses == 1 and keys:
            dispatcher.utter_message(
                text="Mình chưa chắc đã hiểu đúng. Có phải bạn muốn hỏi về…", buttons=choose_procedure_buttons(keys)
            )
            return [SlotSet("fallback_count", misses), SlotSet("candidates", keys)]
        if misses == 1:
            dispatcher.utter_message(
                text="Xin lỗi, mình chưa hiểu ý bạn. Bạn nói rõ hơn giúp mình thủ tục bạn cần làm nhé (ví dụ: “làm lại căn cước”, “đăng ký tạm trú”).",
                buttons=[BUTTON_SERVICES, BUTTON_HUMAN],
            )
            return [SlotSet("fallback_count", misses)]
        dispatcher.utter_message(
            text="Mình vẫn chưa hiểu được. Bạn chọn thủ tục trong danh sách dịch vụ, hoặc để cán bộ hỗ trợ trực tiếp nhé.",
            buttons=[BUTTON_SERVICES, BUTTON_HUMAN],
        )
        return [SlotSet("fallback_count", 0)]


class ActionHandleAffirm(Action):
    """'Có' / 'ok': yes to the one candidate offered, otherwise ask what else."""

    def name(self) -> str:
        return "action_handle_affirm"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        candidates = tracker.get_slot("candidates") or []
        if len(candidates) == 1:
            return answer(dispatcher, tracker, candidates[0], tracker.get_slot("aspect") or "overview")
        walkthrough = walkthrough_buttons(tracker)
        if walkthrough:  # "có rồi", "ok" during the steps: the way on, without skipping a step unasked
            dispatcher.utter_message(text="Vâng ạ. Xong bước này thì bạn bấm để đi tiếp nhé.", buttons=walkthrough + [BUTTON_HUMAN])
            return []
        dispatcher.utter_message(text="Vâng ạ. Bạn cần mình giúp gì tiếp?", buttons=[BUTTON_SERVICES, BUTTON_HUMAN])
        return []


class ActionHandleDeny(Action):
    """'Không': show the services when no candidate was right, otherwise a way back or onwards."""

    def name(self) -> str:
        return "action_handle_deny"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        if tracker.get_slot("candidates"):
            dispatcher.utter_message(
                text="Vậy bạn chọn giúp mình trong danh sách dịch vụ, hoặc mô tả thêm việc bạn cần làm nhé.",
                buttons=[BUTTON_SERVICES, BUTTON_HUMAN],
            )
            return [SlotSet("candidates", None)]
        buttons = walkthrough_buttons(tracker) + [BUTTON_SERVICES, BUTTON_HUMAN]
        button = resume_button(tracker)
        if button:
            buttons.insert(0, button)
        dispatcher.utter_message(text="Vâng ạ. Khi cần làm thủ tục gì bạn cứ nhắn mình nhé.", buttons=buttons)
        return []


class ActionSaveRating(Action):
    """Store a 1–5 rating (the engine writes it to the feedback table) and thank the citizen."""

    def name(self) -> str:
        return "action_save_rating"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        value = entity(tracker, "rating") or ""
        digits = "".join(ch for ch in value if ch.isdigit())
        if not digits or not 1 <= int(digits[:1]) <= 5:
            dispatcher.utter_message(text="Bạn chấm giúp mình từ 1 đến 5 nhé.")
            return []
        rating = digits[:1]
        dispatcher.utter_message(
            text=f"Cảm ơn bạn đã chấm {rating}/5! Bạn có muốn góp ý thêm không?",
            buttons=[{"title": "Góp ý thêm", "payload": "/give_feedback"}, BUTTON_SERVICES],
        )
        return [SlotSet("feedback_rating", rating)]


class ActionAskFeedbackFormComment(Action):
    """Ask for the comment, with a way out."""

    def name(self) -> Text:
        return "action_ask_feedback_form_comment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        dispatcher.utter_message(
            text="Bạn nhắn góp ý của mình nhé (điều gì chưa rõ, bước nào khó làm…). Cán bộ sẽ đọc để hoàn thiện hướng dẫn.",
            buttons=[{"title": "Bỏ qua", "payload": "/deny"}],
        )
        return []


class ActionSaveComment(Action):
    """Keep the citizen's comment (the engine writes it to the feedback table) and thank them."""

    def name(self) -> Text:
        return "action_save_comment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        comment = (tracker.get_slot("feedback_form_comment") or "").strip()
        dispatcher.utter_message(text="Cảm ơn góp ý của bạn! Cán bộ sẽ đọc để hoàn thiện hướng dẫn.")
        return [SlotSet("feedback_comment", comment[:2000] or None), SlotSet("feedback_form_comment", None)]


class ActionHandoff(Action):
    """Hand the conversation to one-stop-desk staff and fall silent until they hand it back."""

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        hours = get_settings().handoff_hours
        procedure = get_procedure(tracker.get_slot("procedure"))
        about = f" về “{procedure.short_name}”" if procedure else ""
        dispatcher.utter_message(
            text=(
                f"Mình đã chuyển cuộc trò chuyện{about} cho cán bộ bộ phận một cửa, kèm tóm tắt những gì bạn đã hỏi, "
                "nên bạn không phải kể lại. "
                f"Cán bộ trả lời ngay tại đây trong giờ làm việc ({hours}); "
                "ngoài giờ, cán bộ trả lời vào đầu giờ làm việc tiếp theo. Trong lúc chờ, trợ lý ảo tạm dừng."
            )
        )
        return [ConversationPaused()]
