"""The personalised guide: start it, the checklist, then one step at a time (the questions: interview.py).

State lives in slots, so it is in the tracker store and survives a server restart or a new device:
``guide_procedure`` (the walkthrough's key; ``procedure`` is what the conversation is about, which a side
question may change), ``guide_answers`` (question id → option id), ``guide_step`` (0-based index of the
step being shown; None outside a walkthrough), ``return_to`` (the procedure to come back to after the
VNeID detour) and ``suspended`` (a walkthrough put aside for another procedure).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, List, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    BUTTON_BACK,
    BUTTON_HUMAN,
    BUTTON_NEXT,
    BUTTON_REPEAT,
    answers_of,
    caution,
    entity,
    get_procedure,
    payload,
    render_aspect,
    source_line,
    with_source,
)
from actions.context import known_answers, meta
from actions.interview import QUESTION_SLOTS, VNEID_KEY, guide_of
from actions.procedures import CONFIRM_BELOW, resume_button, suspend
from assistant.catalogue.schema import Procedure


def in_range(procedure: Procedure, answers: Dict[str, str], index: int) -> int:
    """``index`` (0-based) moved into the steps that apply: a saved step may lie past them once the record has fewer."""
    return max(0, min(index, len(procedure.steps_for(answers)) - 1))


def step_message(procedure: Procedure, answers: Dict[str, str], index: int) -> Dict[str, Any]:
    """``Bước i/N: …`` for step ``index`` (0-based, kept in range) with the walkthrough buttons."""
    steps = procedure.steps_for(answers)
    index = in_range(procedure, answers, index)
    step = steps[index]
    text = f"Bước {index + 1}/{len(steps)}: {step.title}\n{step.text}{caution(step.confidence)}"
    return {
        "text": text,
        "buttons": [BUTTON_NEXT, BUTTON_BACK, BUTTON_REPEAT, BUTTON_HUMAN],
        "json_message": meta(procedure.key, "steps", index + 1, len(steps)),
    }


def at_step(procedure: Procedure, index: int) -> List[EventType]:
    """The slots of a walkthrough showing step ``index``: the conversation is about its procedure again."""
    return [SlotSet("guide_step", index), SlotSet("procedure", procedure.key), SlotSet("aspect", "steps")]


def named_procedure(tracker: Tracker) -> Optional[str]:
    """The procedure the latest message names with confidence ("hướng dẫn mình khai báo tạm vắng online")."""
    ranking = tracker.latest_message.get("procedure_ranking") or []
    return str(ranking[0]["key"]) if ranking and ranking[0]["confidence"] >= CONFIRM_BELOW else None


def prefilled(procedure: Procedure, answers: Dict[str, str]) -> List[EventType]:
    """Question slots already answered by what the citizen said: those questions are not asked."""
    events: List[EventType] = []
    for slot, question in zip(QUESTION_SLOTS, procedure.questions, strict=False):
        events.append(SlotSet(slot, answers.get(question.id)))
    return events


class ActionStartGuide(Action):
    """Start (or resume) the personalised guide for the chosen or current procedure."""

    def name(self) -> str:
        return "action_start_guide"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        key = entity(tracker, "procedure") or named_procedure(tracker) or tracker.get_slot("procedure")
        procedure = get_procedure(key)
        reset = [SlotSet(s, None) for s in QUESTION_SLOTS]
        if procedure is None:
            dispatcher.utter_message(
                text="Bạn muốn mình hướng dẫn thủ tục nào? Bạn nhắn tên thủ tục hoặc xem danh sách nhé.",
                buttons=[{"title": "Xem các dịch vụ", "payload": "/list_services"}],
            )
            return reset + [SlotSet("guide_procedure", None), SlotSet("guide_step", None)]
        saved = tracker.get_slot("suspended")
        if isinstance(saved, dict) and saved.get("procedure") == procedure.key:
            # Coming back to a walkthrough put aside earlier: same answers, same step.
            dispatcher.utter_message(text=f"Mình quay lại “{procedure.short_name}” đúng chỗ bạn đang làm nhé.")
            return [
                SlotSet("procedure", procedure.key),
                SlotSet("guide_procedure", procedure.key),
                SlotSet("guide_answers", saved.get("answers") or {}),
                SlotSet("guide_step", int(saved.get("step") or 0)),
                SlotSet("suspended", None),
                *reset,
                SlotSet("guide_form_vneid", "yes"),
            ]
        # another walkthrough running: put aside, with a way back ("Quay lại … (bước n)")
        events: List[EventType] = suspend(tracker) if tracker.get_slot("guide_procedure") != procedure.key else []
        answers = known_answers(tracker, procedure.key)
        events += [
            SlotSet("procedure", procedure.key),
            SlotSet("guide_procedure", procedure.key),
            SlotSet("guide_answers", answers),
            SlotSet("guide_step", None),
            *reset,
            *prefilled(procedure, answers),
        ]
        if tracker.get_slot("guide_form_vneid") != "yes" or procedure.key == VNEID_KEY:
            events.append(SlotSet("guide_form_vneid", None))
        intro = f"Mình hướng dẫn bạn làm “{procedure.name}” online."
        unanswered = [q for q in procedure.questions if q.id not in answers]
        if unanswered or procedure.requires_vneid:
            intro += " Trước hết mình hỏi nhanh vài câu để biết bạn cần chuẩn bị gì."
        dispatcher.utter_message(text=intro, json_message=meta(procedure.key, None))
        return events


class ActionGuideChecklist(Action):
    """After the questions: the personalised checklist, then Bước 1/N (or the VNeID detour first)."""

    def name(self) -> str:
        return "action_guide_checklist"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        procedure = guide_of(tracker)
        if procedure is None:
            return []
        step = tracker.get_slot("guide_step")
        if step is not None:  # resumed walkthrough: show where they were
            answers = answers_of(tracker)
            step = in_range(procedure, answers, int(step))
            dispatcher.utter_message(**step_message(procedure, answers, step))
            return at_step(procedure, step)
        if tracker.get_slot("guide_form_vneid") == "no" and procedure.requires_vneid:
            vneid = get_procedure(VNEID_KEY)
            if vneid is not None:
                dispatcher.utter_message(
                    text=(
                        f"Để làm “{procedure.short_name}” online, trước hết bạn cần tài khoản VNeID mức 2. "
                        "Mình hướng dẫn bạn làm tài khoản trước, xong sẽ quay lại thủ tục này."
                    )
                )
                return self._begin(dispatcher, vneid, {}) + [SlotSet("return_to", procedure.key)]
        answers = answers_of(tracker)
        dispatcher.utter_message(
            text=with_source(render_aspect(procedure, "documents", answers), procedure),
            json_message=meta(procedure.key, "documents"),
        )
        return self._begin(dispatcher, procedure, answers)

    @staticmethod
    def _begin(dispatcher: CollectingDispatcher, procedure: Procedure, answers: Dict[str, str]) -> List[EventType]:
        dispatcher.utter_message(**step_message(procedure, answers, 0))
        return [SlotSet("guide_procedure", procedure.key), SlotSet("guide_answers", answers), *at_step(procedure, 0)]


def _current(tracker: Tracker) -> Any:
    procedure = guide_of(tracker)
    step = tracker.get_slot("guide_step")
    return procedure, (int(step) if step is not None else None)


def not_in_walkthrough(dispatcher: CollectingDispatcher, tracker: Tracker) -> List[EventType]:
    """Reply to next/back/repeat when no walkthrough is running."""
    procedure = get_procedure(tracker.get_slot("procedure"))
    buttons = []
    button = resume_button(tracker)
    if button:
        buttons.append(button)
    if procedure is not None:
        buttons.append({"title": f"Hướng dẫn {procedure.short_name}", "payload": payload("start_guide", procedure=procedure.key)})
    buttons.append({"title": "Xem các dịch vụ", "payload": "/list_services"})
    finished = guide_of(tracker)
    if finished is not None and not button:
        text = f"Bạn đã đi hết các bước “{finished.short_name}” rồi. Bạn muốn xem lại hướng dẫn, hay cần làm thủ tục khác?"
    elif procedure is not None:
        text = f"Bạn chưa bắt đầu hướng dẫn từng bước. Bạn muốn mình hướng dẫn làm “{procedure.short_name}” online không?"
    else:
        text = "Hiện bạn chưa làm dở thủ tục nào. Bạn muốn mình hướng dẫn thủ tục gì?"
    dispatcher.utter_message(text=text, buttons=buttons)
    return []


class _WalkthroughAction(Action, ABC):
    """An action that only makes sense inside a walkthrough; outside one it offers to start one."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        procedure, step = _current(tracker)
        if procedure is None or step is None:
            return not_in_walkthrough(dispatcher, tracker)
        answers = answers_of(tracker)
        return self.walk(dispatcher, tracker, procedure, in_range(procedure, answers, step), answers)

    @abstractmethod
    def walk(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        procedure: Procedure,
        step: int,
        answers: Dict[str, Any],
    ) -> List[EventType]:
        """Act on the current walkthrough (``step`` is the 0-based step being shown)."""


class ActionGuideNext(_WalkthroughAction):
    """Next step; past the last one, what happens next and a 1–5 rating."""

    def name(self) -> str:
        return "action_guide_next"

    def walk(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        procedure: Procedure,
        step: int,
        answers: Dict[str, Any],
    ) -> List[EventType]:
        total = len(procedure.steps_for(answers))
        if step + 1 < total:
            dispatcher.utter_message(**step_message(procedure, answers, step + 1))
            return at_step(procedure, step + 1)
        return finish(dispatcher, tracker, procedure)


def finish(dispatcher: CollectingDispatcher, tracker: Tracker, procedure: Procedure) -> List[EventType]:
    """The walkthrough is done: result, time, tracking, then the rating question."""
    dispatcher.utter_message(
        text=(
            f"Xong! Bạn đã đi hết các bước “{procedure.short_name}”.\n"
            f"• Kết quả: {procedure.result.text}{caution(procedure.result.confidence)}\n"
            f"• Thời gian: {procedure.processing_time.text}{caution(procedure.processing_time.confidence)}\n"
            "• Theo dõi hồ sơ: mục “Quản lý hồ sơ đã nộp” trên Cổng Dịch vụ công hoặc trong ứng dụng VNeID; "
            "thông báo cũng được gửi qua cổng, VNeID hoặc tin nhắn.\n—\n"
            f"{source_line(procedure)}"
        ),
        json_message=meta(procedure.key, "result"),
    )
    events: List[EventType] = [SlotSet("guide_step", None), SlotSet("procedure", procedure.key)]
    back_to = get_procedure(tracker.get_slot("return_to"))
    if back_to is not None and back_to.key != procedure.key:
        dispatcher.utter_message(
            text=f"Khi đã có tài khoản VNeID mức 2, mình tiếp tục hướng dẫn “{back_to.short_name}” nhé.",
            buttons=[{"title": f"Tiếp tục {back_to.short_name}", "payload": payload("start_guide", procedure=back_to.key)}],
        )
        events += [SlotSet("return_to", None), SlotSet("guide_form_vneid", "yes"), SlotSet("procedure", back_to.key)]
    dispatcher.utter_message(
        text="Bạn thấy hướng dẫn này hữu ích thế nào? Chấm từ 1 (chưa tốt) đến 5 (rất tốt):",
        buttons=[{"title": str(i), "payload": payload("rate", rating=str(i))} for i in range(1, 6)],
    )
    return events


class ActionGuidePrevious(_WalkthroughAction):
    """Back one step (never before the first)."""

    def name(self) -> str:
        return "action_guide_previous"

    def walk(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        procedure: Procedure,
        step: int,
        answers: Dict[str, Any],
    ) -> List[EventType]:
        if step <= 0:
            dispatcher.utter_message(text="Bạn đang ở bước đầu tiên rồi.")
            dispatcher.utter_message(**step_message(procedure, answers, 0))
            return at_step(procedure, 0)
        dispatcher.utter_message(**step_message(procedure, answers, step - 1))
        return at_step(procedure, step - 1)


class ActionGuideRepeat(_WalkthroughAction):
    """Say the current step again."""

    def name(self) -> str:
        return "action_guide_repeat"

    def walk(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        procedure: Procedure,
        step: int,
        answers: Dict[str, Any],
    ) -> List[EventType]:
        dispatcher.utter_message(**step_message(procedure, answers, step))
        return at_step(procedure, step)


class ActionGuideProgress(_WalkthroughAction):
    """'Mình đang làm đến đâu rồi?': the procedure and the current step."""

    def name(self) -> str:
        return "action_guide_progress"

    def walk(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        procedure: Procedure,
        step: int,
        answers: Dict[str, Any],
    ) -> List[EventType]:
        dispatcher.utter_message(text=f"Bạn đang làm “{procedure.name}”. Mình nhắc lại bước hiện tại nhé:")
        dispatcher.utter_message(**step_message(procedure, answers, step))
        return at_step(procedure, step)


class ActionRestart(Action):
    """'Làm lại từ đầu': back to Bước 1 of the current walkthrough, otherwise a fresh conversation.

    Overrides Rasa's default ``action_restart`` (the ``restart`` intent always maps to it). While the
    conversation is with staff it says nothing and keeps it paused.
    """

    def name(self) -> str:
        return "action_restart"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        from rasa_sdk.events import ConversationPaused, Restarted

        if tracker.is_paused():
            return [ConversationPaused()]
        procedure, step = _current(tracker)
        loop_off: List[EventType] = [ActiveLoop(None), SlotSet("requested_slot", None)] if tracker.active_loop else []
        if procedure is not None and step is not None:
            dispatcher.utter_message(text=f"Mình bắt đầu lại “{procedure.short_name}” từ bước đầu nhé.")
            dispatcher.utter_message(**step_message(procedure, answers_of(tracker), 0))
            return loop_off + at_step(procedure, 0)
        dispatcher.utter_message(
            text="Mình bắt đầu lại từ đầu nhé. Bạn cần làm thủ tục gì?",
            buttons=[{"title": "Xem các dịch vụ", "payload": "/list_services"}],
        )
        return [Restarted()]
