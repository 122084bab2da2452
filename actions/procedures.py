"""Answering procedure questions: by aspect, asking when unsure, and offering to switch procedures."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    BUTTON_HUMAN,
    catalogue,
    entity,
    get_procedure,
    next_move_buttons,
    payload,
    render_aspect,
    with_source,
)

# Below this procedure confidence the assistant asks instead of answering. Chosen on the held-out set
# (docs/nlu-evaluation.md): above it top-1 is right ≥ 98% of the time.
CONFIRM_BELOW = 0.45
CANDIDATES = 3


def ranking_of(tracker: Tracker) -> List[Dict[str, Any]]:
    """The procedure ranking of the latest message (empty for button payloads)."""
    return list(tracker.latest_message.get("procedure_ranking") or [])


def choose_procedure_buttons(keys: List[str]) -> List[Dict[str, str]]:
    """One button per candidate procedure, then 'none of these'."""
    buttons = []
    for key in keys:
        procedure = get_procedure(key)
        if procedure is not None:
            buttons.append({"title": procedure.short_name, "payload": payload("ask_procedure", procedure=key)})
    buttons.append({"title": "Không phải các thủ tục trên", "payload": "/deny"})
    return buttons


def answer(dispatcher: CollectingDispatcher, tracker: Tracker, key: str, aspect: str) -> List[EventType]:
    """Answer ``aspect`` of procedure ``key`` and offer the next moves."""
    procedure = get_procedure(key)
    if procedure is None:
        dispatcher.utter_message(text="Xin lỗi, mình chưa có thông tin về thủ tục này.", buttons=[BUTTON_HUMAN])
        return []
    answers = tracker.get_slot("guide_answers") if tracker.get_slot("procedure") == key else None
    text = render_aspect(procedure, aspect, dict(answers or {}))
    dispatcher.utter_message(
        text=with_source(text, procedure), buttons=next_move_buttons(procedure, shown=aspect)
    )
    return [SlotSet("procedure", key), SlotSet("aspect", aspect), SlotSet("candidates", None), SlotSet("fallback_count", 0)]


class ActionAnswerProcedure(Action):
    """Answer a procedure question, or ask which procedure when unsure, or offer to switch."""

    def name(self) -> str:
        return "action_answer_procedure"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        chosen = entity(tracker, "procedure")
        aspect = entity(tracker, "aspect") or tracker.latest_message.get("aspect") or "overview"
        ranking = ranking_of(tracker)
        if chosen is None:
            if not ranking:
                return self._ask_which(dispatcher, tracker, [])
            best = ranking[0]
            if best["confidence"] < CONFIRM_BELOW:
                return self._ask_which(dispatcher, tracker, [r["key"] for r in ranking[:CANDIDATES]])
            chosen = best["key"]
        current = tracker.get_slot("procedure")
        in_guide = tracker.get_slot("guide_step") is not None
        if in_guide and current and current != chosen and entity(tracker, "procedure") is None:
            return self._offer_switch(dispatcher, tracker, current, chosen, aspect)
        events = answer(dispatcher, tracker, chosen, aspect)
        if in_guide and current != chosen:
            events += suspend(tracker)
        return events

    @staticmethod
    def _ask_which(dispatcher: CollectingDispatcher, tracker: Tracker, keys: List[str]) -> List[EventType]:
        if not keys:
            hits = catalogue().search(tracker.latest_message.get("text") or "", limit=CANDIDATES)
            keys = [h.key for h in hits]
        if not keys:
            dispatcher.utter_message(
                text="Mình chưa rõ bạn cần thủ tục nào. Bạn nói rõ hơn giúp mình nhé, hoặc xem danh sách dịch vụ.",
                buttons=[{"title": "Xem các dịch vụ", "payload": "/list_services"}, BUTTON_HUMAN],
            )
            return []
        dispatcher.utter_message(text="Có phải bạn muốn hỏi về một trong các thủ tục này?", buttons=choose_procedure_buttons(keys))
        return [SlotSet("candidates", keys)]

    @staticmethod
    def _offer_switch(
        dispatcher: CollectingDispatcher, tracker: Tracker, current: str, chosen: str, aspect: str
    ) -> List[EventType]:
        old, new = get_procedure(current), get_procedure(chosen)
        if old is None or new is None:
            return answer(dispatcher, tracker, chosen, aspect)
        step = int(tracker.get_slot("guide_step") or 0) + 1
        dispatcher.utter_message(
            text=(
                f"Bạn đang làm dở “{old.short_name}” (bước {step}). "
                f"Bạn muốn chuyển sang “{new.short_name}” không? Mình sẽ giữ chỗ để bạn quay lại sau."
            ),
            buttons=[
                {"title": f"Chuyển sang {new.short_name}", "payload": "/affirm"},
                {"title": f"Tiếp tục {old.short_name}", "payload": "/deny"},
            ],
        )
        return [SlotSet("switch_to", chosen), SlotSet("aspect", aspect)]


def suspend(tracker: Tracker) -> List[EventType]:
    """Put the current walkthrough aside (to come back to it) and leave walkthrough mode."""
    key = tracker.get_slot("procedure")
    step = tracker.get_slot("guide_step")
    if not key or step is None:
        return []
    saved = {"procedure": key, "step": int(step), "answers": tracker.get_slot("guide_answers") or {}}
    return [SlotSet("suspended", saved), SlotSet("guide_step", None)]


def resume_button(tracker: Tracker) -> Optional[Dict[str, str]]:
    """A button back to a suspended walkthrough, if there is one."""
    saved = tracker.get_slot("suspended")
    if not isinstance(saved, dict):
        return None
    procedure = get_procedure(saved.get("procedure"))
    if procedure is None:
        return None
    return {
        "title": f"Quay lại {procedure.short_name} (bước {saved['step'] + 1})",
        "payload": payload("start_guide", procedure=procedure.key),
    }


class ActionListServices(Action):
    """List the services the assistant knows, as buttons."""

    def name(self) -> str:
        return "action_list_services"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        procedures = catalogue().all()
        lines = ["Mình hướng dẫn được các dịch vụ công sau (bấm để xem, hoặc nhắn tên thủ tục):"]
        lines += [f"{i}. {p.name}" for i, p in enumerate(procedures, 1)]
        buttons = [{"title": p.short_name, "payload": payload("ask_procedure", procedure=p.key)} for p in procedures]
        dispatcher.utter_message(text="\n".join(lines), buttons=buttons + [BUTTON_HUMAN])
        return [SlotSet("fallback_count", 0)]
