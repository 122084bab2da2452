"""The personalised guide: a few questions (``guide_form``), the checklist, then one step at a time.

State lives in slots, so it is in the tracker store and survives a server restart or a new device:
``guide_procedure`` (the walkthrough's key; ``procedure`` is what the conversation is about, which a side
question may change), ``guide_answers`` (question id → option id), ``guide_step`` (0-based index of the
step being shown; None outside a walkthrough), ``return_to`` (the procedure to come back to after the
VNeID detour) and ``suspended`` (a walkthrough put aside for another procedure).

What the citizen already said answers the questions before they are asked ("mất cccd rồi" → no "lần đầu
hay mất?"); a question, thanks or anything else that is not an answer is dealt with by the rules for the
interrupted form (nlu_data/rules/walkthrough.yml) and the question is asked again.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

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
from actions.context import known_answers, meta, remember, situation_cues
from actions.procedures import CONFIRM_BELOW, resume_button, suspend
from assistant.catalogue.schema import Procedure
from assistant.text.normalize import fold

VNEID_KEY = "tai-khoan-vneid-muc-2"
QUESTION_SLOTS = ("guide_form_q1", "guide_form_q2", "guide_form_q3")
YES = {"co", "roi", "da co", "co roi", "da co roi", "yes", "ok", "dung", "co a", "roi a", "co tai khoan"}
NO = {"chua", "khong", "chua co", "khong co", "no", "chua a", "chua co a", "chua lam"}


def step_message(procedure: Procedure, answers: Dict[str, str], index: int) -> Dict[str, Any]:
    """``Bước i/N: …`` for step ``index`` (0-based, kept in range) with the walkthrough buttons."""
    steps = procedure.steps_for(answers)
    index = max(0, min(index, len(steps) - 1))
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


_DONT_KNOW = re.compile(r"\b(ko|k|khong|hong|chua) (biet|ro|nho)\b")


def _words(text: Text) -> Text:
    """Folded text with punctuation removed: ``Bị mất, hỏng`` → ``bi mat hong``."""
    return " ".join(re.sub(r"[^\w]+", " ", fold(text)).split())


def _has_label_words(said: Text, options: List[Any]) -> bool:
    """True when the answer shares a word with some option label (then words decide, not digits)."""
    words = set(said.split())
    return any(words & set(_words(o.label).split()) - {"1", "2", "3", "4", "5", "6", "7", "8", "9"} for o in options)


def match_option(text: Text, options: List[Any]) -> Optional[Text]:
    """The option id a free-text or button answer means, or None.

    Accepts the option's id or label (accents, case and punctuation ignored), the option's number
    ("1", "2", …), a label inside the answer or the answer inside a label, and otherwise the one option
    sharing the most words with the answer.
    """
    if text.strip() in {o.id for o in options}:  # a button's payload
        return text.strip()
    # "ko biết", "không rõ", "chưa rõ" all mean the "Chưa biết" option
    said = _DONT_KNOW.sub("chua biet", _words(text))
    if not said:
        return None
    digits = re.findall(r"\b([1-9])\b", said)
    if len(digits) == 1 and 1 <= int(digits[0]) <= len(options) and (said.isdigit() or not _has_label_words(said, options)):
        return options[int(digits[0]) - 1].id
    labels = {o.id: _words(o.label) for o in options}
    for option in options:
        if said in {labels[option.id], _words(option.id.replace("_", " "))}:
            return option.id
    hits = [o.id for o in options if labels[o.id] in said or (len(said) >= 3 and said in labels[o.id])]
    if len(hits) == 1:
        return hits[0]
    words = set(said.split())
    overlap = {o.id: len(words & set(labels[o.id].split())) for o in options}
    best = max(overlap.values())
    winners = [k for k, v in overlap.items() if v == best]
    return winners[0] if best > 0 and len(winners) == 1 else None


def match_yes_no(text: str) -> Optional[str]:
    """``yes``/``no`` for an answer to 'do you have a VNeID level-2 account?'."""
    said = fold(text).strip(" .!?")
    if said in {"yes", "no"}:
        return said
    if said in YES or said.startswith(("co ", "da co", "roi")):
        return "yes"
    if said in NO or said.startswith(("chua", "khong")):
        return "no"
    return None


# Intents that are not an answer to the guide's question: the form steps aside (rules in
# nlu_data/rules/walkthrough.yml answer them) and asks again.
NOT_ANSWERS = {
    "ask_procedure", "start_guide", "list_services", "out_of_scope", "greet", "thank", "goodbye",
    "next_step", "previous_step", "repeat_step", "ask_progress", "nlu_fallback", "rate", "give_feedback", "faq_bot_identity",
}
# Said instead of an answer, these mean the citizen already has the account.
_HAS_ACCOUNT = ("co tai khoan", "da co tai khoan", "co vneid", "da co vneid", "dinh danh muc 2 roi", "co muc 2")


def named_procedure(tracker: Tracker) -> Optional[str]:
    """The procedure the latest message names with confidence ("hướng dẫn mình khai báo tạm vắng online")."""
    ranking = tracker.latest_message.get("procedure_ranking") or []
    return str(ranking[0]["key"]) if ranking and ranking[0]["confidence"] >= CONFIRM_BELOW else None


def guide_of(tracker: Tracker) -> Optional[Procedure]:
    """The procedure of the walkthrough (or of its questions) in progress."""
    return get_procedure(tracker.get_slot("guide_procedure"))


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


class ValidateGuideForm(FormValidationAction):
    """Ask only the questions the procedure has and the citizen has not answered; map answers to options."""

    def name(self) -> str:
        return "validate_guide_form"

    async def required_slots(
        self,
        domain_slots: List[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> List[str]:
        procedure = guide_of(tracker)
        if procedure is None or tracker.get_slot("guide_step") is not None:
            return []
        slots: List[str] = []
        if procedure.requires_vneid and procedure.key != VNEID_KEY:
            slots.append("guide_form_vneid")
            if tracker.get_slot("guide_form_vneid") == "no":
                return slots
        slots.extend(QUESTION_SLOTS[: len(procedure.questions)])
        return slots

    def _question(self, tracker: Tracker, slot: str) -> Any:
        procedure = guide_of(tracker)
        index = QUESTION_SLOTS.index(slot)
        if procedure is None or index >= len(procedure.questions):
            return procedure, None
        return procedure, procedure.questions[index]

    def _validate_question(
        self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> Dict[str, Any]:
        procedure, question = self._question(tracker, slot)
        if procedure is None or question is None:
            return {slot: None}
        if value is None:
            return {slot: None}
        option = match_option(str(value), question.options)
        if option is None:
            dispatcher.utter_message(text="Bạn chọn giúp mình một trong các lựa chọn bên dưới nhé.")
            return {slot: None}
        answers = answers_of(tracker)
        answers[question.id] = option
        return {slot: option, "guide_answers": answers, "known_answers": remember(tracker, procedure.key, answers)}

    def _typed_answer(self, slot: Text, tracker: Tracker) -> Optional[Text]:
        """The option (or yes/no) that the latest message gives for ``slot``, if it gives one."""
        text = tracker.latest_message.get("text") or ""
        if slot == "guide_form_vneid":
            said = fold(text)
            if any(phrase in said for phrase in _HAS_ACCOUNT):
                return "yes"
            return match_yes_no(text) if tracker.get_slot("requested_slot") == slot else None
        procedure, question = self._question(tracker, slot)
        if question is None:
            return None
        known = tracker.get_slot("known_answers")
        if isinstance(known, dict) and question.id in (known.get(procedure.key) or {}):
            # answered meanwhile, e.g. by a situation button under a side answer
            return str(known[procedure.key][question.id])
        cued = situation_cues().answers(procedure.key, text).get(question.id)
        if cued is not None:
            return cued
        if tracker.get_slot("requested_slot") != slot:
            return None
        return match_option(text, question.options)

    async def _extract_choice(
        self, slot: Text, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """An answer typed in the citizen's own words ("có rồi", "mất rồi", "cho con 5 tuổi").

        Button presses arrive as the ``option`` entity (domain slot mapping). A question or anything else that
        is not an answer leaves the slot alone, so the form steps aside for the rules of the interrupted form.
        """
        if tracker.get_slot(slot) is not None:
            return {}
        if entity(tracker, "option") and tracker.get_slot("requested_slot") == slot:
            return {}  # a button of this question: the domain's slot mapping reads it
        text = tracker.latest_message.get("text") or ""
        intent = tracker.latest_message.get("intent", {}).get("name")
        value = self._typed_answer(slot, tracker)
        if text.startswith("/"):  # a button of another reply: only what it already told us counts
            return {slot: value} if value is not None and slot != "guide_form_vneid" else {}
        if value is not None:
            return {slot: value}
        if tracker.get_slot("requested_slot") != slot or intent in NOT_ANSWERS or intent in ("request_human", "restart"):
            return {}
        if slot == "guide_form_vneid":
            dispatcher.utter_message(text="Bạn trả lời giúp mình “Có” hoặc “Chưa” nhé (hoặc hỏi mình điều bạn cần).")
        else:
            dispatcher.utter_message(text="Bạn chọn giúp mình một trong các lựa chọn bên dưới nhé (hoặc hỏi mình điều bạn cần).")
        return {slot: None}

    async def extract_guide_form_vneid(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        return await self._extract_choice("guide_form_vneid", dispatcher, tracker, domain)

    async def extract_guide_form_q1(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        return await self._extract_choice("guide_form_q1", dispatcher, tracker, domain)

    async def extract_guide_form_q2(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        return await self._extract_choice("guide_form_q2", dispatcher, tracker, domain)

    async def extract_guide_form_q3(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        return await self._extract_choice("guide_form_q3", dispatcher, tracker, domain)

    def validate_guide_form_vneid(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        if slot_value is None:
            return {"guide_form_vneid": None}
        said = match_yes_no(str(slot_value))
        if said is None:
            dispatcher.utter_message(text="Bạn trả lời giúp mình “Có” hoặc “Chưa” nhé.")
        return {"guide_form_vneid": said}

    def validate_guide_form_q1(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return self._validate_question("guide_form_q1", slot_value, dispatcher, tracker)

    def validate_guide_form_q2(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return self._validate_question("guide_form_q2", slot_value, dispatcher, tracker)

    def validate_guide_form_q3(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return self._validate_question("guide_form_q3", slot_value, dispatcher, tracker)


class ActionAskGuideFormVneid(Action):
    """Ask whether the citizen already has a VNeID level-2 account."""

    def name(self) -> str:
        return "action_ask_guide_form_vneid"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        procedure = guide_of(tracker)
        dispatcher.utter_message(
            text="Thủ tục này làm online bằng tài khoản định danh điện tử VNeID mức 2. Bạn đã có tài khoản VNeID mức 2 chưa?",
            buttons=[
                {"title": "Có rồi", "payload": payload("choose_option", option="yes")},
                {"title": "Chưa có", "payload": payload("choose_option", option="no")},
            ],
            json_message=meta(procedure.key if procedure else None, None),
        )
        return []


class _AskQuestion(Action, ABC):
    """Ask question number ``index`` of the current procedure, its options as buttons."""

    @property
    @abstractmethod
    def index(self) -> int:
        """0-based position of the question in the record."""

    def name(self) -> str:
        return f"action_ask_{QUESTION_SLOTS[self.index]}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        procedure = guide_of(tracker)
        if procedure is None or self.index >= len(procedure.questions):
            return []
        question = procedure.questions[self.index]
        dispatcher.utter_message(
            text=question.question,
            buttons=[{"title": o.label, "payload": payload("choose_option", option=o.id)} for o in question.options],
            json_message=meta(procedure.key, None),
        )
        return []


class ActionAskGuideFormQ1(_AskQuestion):
    """Ask the procedure's first question."""

    index = 0


class ActionAskGuideFormQ2(_AskQuestion):
    """Ask the procedure's second question."""

    index = 1


class ActionAskGuideFormQ3(_AskQuestion):
    """Ask the procedure's third question."""

    index = 2


class ActionInterviewHint(Action):
    """'Tiếp', 'quay lại' or words not understood while a guide question waits: say what is asked."""

    def name(self) -> str:
        return "action_interview_hint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        dispatcher.utter_message(
            text="Trước khi vào các bước, mình cần biết trường hợp của bạn: bạn bấm một lựa chọn bên dưới nhé. "
            "Bạn cũng có thể hỏi mình bất cứ điều gì, hoặc nhắn “làm lại từ đầu” để dừng."
        )
        return []


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
            dispatcher.utter_message(**step_message(procedure, answers_of(tracker), int(step)))
            return at_step(procedure, int(step))
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
        return self.walk(dispatcher, tracker, procedure, step, answers_of(tracker))

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
