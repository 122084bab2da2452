"""The guide's interview: the few questions (``guide_form``) that personalise the checklist and the steps.

What the citizen already said answers the questions before they are asked ("mất cccd rồi" → no "lần đầu
hay mất?"); typed answers in their own words ("có rồi", "mất rồi", "ko biết") are read here; a question,
thanks or anything else that is not an answer leaves the slot alone, so the form steps aside for the rules
of the interrupted form (nlu_data/rules/walkthrough.yml) and the question is asked again.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import answers_of, entity, get_procedure, payload
from actions.context import meta, remember, situation_cues
from assistant.catalogue.schema import Procedure
from assistant.text.normalize import fold

VNEID_KEY = "tai-khoan-vneid-muc-2"
QUESTION_SLOTS = ("guide_form_q1", "guide_form_q2", "guide_form_q3")
YES = {"co", "roi", "da co", "co roi", "da co roi", "yes", "ok", "dung", "co a", "roi a", "co tai khoan"}
NO = {"chua", "khong", "chua co", "khong co", "no", "chua a", "chua co a", "chua lam"}
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


def guide_of(tracker: Tracker) -> Optional[Procedure]:
    """The procedure of the walkthrough (or of its questions) in progress."""
    return get_procedure(tracker.get_slot("guide_procedure"))



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
