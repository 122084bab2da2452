"""Answering procedure questions in context: by aspect, for the procedure being talked about, for the
citizen's situation; asking when unsure; never moving a running walkthrough."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    BUTTON_HUMAN,
    BUTTON_SERVICES,
    catalogue,
    entity,
    get_procedure,
    next_move_buttons,
    payload,
    render_aspect,
    with_source,
)
from actions.context import known_answers, meta, remember, situation_cues
from assistant.catalogue.schema import Procedure
from assistant.text.normalize import expand_abbreviations

# Below this procedure confidence the assistant asks instead of answering. Chosen on the held-out set
# (docs/nlu-evaluation.md): above it top-1 is right ≥ 98% of the time.
CONFIRM_BELOW = 0.45
CANDIDATES = 3
# A first question the intent classifier found this likely to be outside the 26 procedures is not answered
# as the nearest procedure: the citizen is asked, with the scope said.
DOUBT_OUT_OF_SCOPE = 0.35
SURE_OF_PROCEDURE = 0.9
# Offered when a question names no procedure and none has been talked about yet.
POPULAR = ("the-can-cuoc", "ho-chieu", "dang-ky-khai-sinh", "dang-ky-tam-tru")

ASPECT_QUESTIONS = {
    "overview": "thông tin",
    "steps": "cách làm",
    "documents": "giấy tờ cần chuẩn bị",
    "fee": "lệ phí",
    "processing_time": "thời gian giải quyết",
    "where": "nơi làm",
    "eligibility": "điều kiện",
    "result": "kết quả",
}
# Which of a record's lists each aspect shows, so a situation that decides them can be asked for.
_ITEMS_OF_ASPECT = {"fee": "fees", "overview": "fees", "documents": "documents", "steps": "steps"}


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


def undecided_question(procedure: Procedure, aspect: str, answers: Dict[str, str]) -> Optional[Any]:
    """The first interview question that changes this aspect's answer and is not answered yet."""
    items = getattr(procedure, _ITEMS_OF_ASPECT.get(aspect, ""), None) or []
    deciding = {question_id for item in items for question_id in (item.when or {})}
    for question in procedure.questions:
        if question.id in deciding and question.id not in answers:
            return question
    return None


def situation_buttons(procedure: Procedure, aspect: str, question: Any) -> List[Dict[str, str]]:
    """The options of ``question`` as buttons that re-ask ``aspect`` for that situation."""
    return [
        {
            "title": option.label,
            "payload": payload("ask_procedure", procedure=procedure.key, aspect=aspect, option=f"{question.id}:{option.id}"),
        }
        for option in question.options
    ]


def chosen_option(tracker: Tracker, procedure: Procedure) -> Dict[str, str]:
    """The answer a situation button carries (``option: "question:option"``), if it is one of the record's."""
    value = entity(tracker, "option") or ""
    question_id, _, option_id = value.partition(":")
    for question in procedure.questions:
        if question.id == question_id and any(o.id == option_id for o in question.options):
            return {question_id: option_id}
    return {}


def walkthrough_buttons(tracker: Tracker) -> List[Dict[str, str]]:
    """A way back into the walkthrough that a side question interrupted."""
    guide = get_procedure(tracker.get_slot("guide_procedure"))
    step = tracker.get_slot("guide_step")
    if guide is None or step is None or tracker.active_loop.get("name"):
        return []
    answers = tracker.get_slot("guide_answers")
    total = len(guide.steps_for(answers if isinstance(answers, dict) else {}))
    onward = f"bước {int(step) + 2}" if int(step) + 1 < total else "hoàn tất"
    return [
        {"title": f"Tiếp tục {guide.short_name}: {onward}", "payload": "/next_step"},
        {"title": f"Nhắc lại bước {int(step) + 1}", "payload": "/repeat_step"},
    ]


def answer(dispatcher: CollectingDispatcher, tracker: Tracker, key: str, aspect: str) -> List[EventType]:
    """Answer ``aspect`` of procedure ``key`` for the citizen's situation and offer the next moves."""
    procedure = get_procedure(key)
    if procedure is None:
        dispatcher.utter_message(text="Xin lỗi, mình chưa có thông tin về thủ tục này.", buttons=[BUTTON_HUMAN])
        return []
    answers = known_answers(tracker, key)
    answers.update(chosen_option(tracker, procedure))
    shown = {**situation_cues().defaults(key), **answers}
    text = render_aspect(procedure, aspect, shown)
    buttons = walkthrough_buttons(tracker)
    question = undecided_question(procedure, aspect, shown)
    if question is not None:
        text += f"\n(Tùy trường hợp của bạn: {question.question[0].lower()}{question.question[1:]} Bấm chọn để mình chỉ nói phần của bạn.)"
        buttons += situation_buttons(procedure, aspect, question)
    buttons += [b for b in next_move_buttons(procedure, shown=aspect) if b not in buttons]
    dispatcher.utter_message(text=with_source(text, procedure), buttons=buttons, json_message=meta(key, aspect))
    events: List[EventType] = [
        SlotSet("procedure", key),
        SlotSet("aspect", aspect),
        SlotSet("candidates", None),
        SlotSet("fallback_count", 0),
    ]
    if answers:
        events.append(SlotSet("known_answers", remember(tracker, key, answers)))
    return events


# "có phải nộp giấy khai sinh không", "co can so ho khau ko", "cần mang bản sao cccd không" (folded)
_PAPER_QUESTION = re.compile(
    r"\b(co )?(phai|can|bat buoc)( phai)? (nop|mang|co|xuat trinh|chuan bi|photo|cong chung|chung thuc|kem|dem)?"
    r" ?(ca |them |theo )?(giay|so|ban sao|ban chinh|anh|the|can cuoc|cmnd|hop dong|to khai|phieu)\b.*\b(khong|hong|ha)( (a|ad|ah|nhi|nhe|vay|z|ban|em|chi|anh))*\s*$"
)


def asks_for_a_paper(tracker: Tracker) -> bool:
    """Whether the latest message asks if a paper must be brought ("có phải nộp giấy khai sinh không")."""
    return bool(_PAPER_QUESTION.search(expand_abbreviations(tracker.latest_message.get("text") or "")))


def out_of_scope_confidence(tracker: Tracker) -> float:
    """How much the intent classifier thought the latest message is outside the 26 procedures."""
    ranking = tracker.latest_message.get("intent_ranking") or []
    return max((float(r.get("confidence") or 0.0) for r in ranking if r.get("name") == "out_of_scope"), default=0.0)


def ask_which(
    dispatcher: CollectingDispatcher, keys: List[str], aspect: Optional[str], *, maybe_out_of_scope: bool = False
) -> List[EventType]:
    """Ask which procedure the question is about; the aspect asked is kept for the answer."""
    pending = [SlotSet("aspect", aspect)] if aspect else []
    if keys:
        text = "Có phải bạn muốn hỏi về một trong các thủ tục này?"
        if maybe_out_of_scope:
            text = (
                "Câu này có thể nằm ngoài 26 dịch vụ công mình hướng dẫn; việc khác bạn hỏi Bộ phận một cửa của xã, "
                "phường hoặc cơ quan phụ trách nhé. Có phải bạn muốn hỏi về thủ tục này?"
            )
        dispatcher.utter_message(text=text, buttons=choose_procedure_buttons(keys))
        return pending + [SlotSet("candidates", keys)]
    what = ASPECT_QUESTIONS.get(aspect or "", "")
    ask = f"Bạn hỏi {what} của thủ tục nào ạ?" if what and aspect != "overview" else "Bạn hỏi về thủ tục nào ạ?"
    buttons = [{"title": p.short_name, "payload": payload("ask_procedure", procedure=p.key)} for k in POPULAR if (p := get_procedure(k))]
    dispatcher.utter_message(
        text=f"{ask} Bạn nhắn tên thủ tục (ví dụ: “hộ chiếu”, “tạm trú”) hoặc chọn bên dưới.",
        buttons=buttons + [BUTTON_SERVICES],
    )
    return pending + [SlotSet("candidates", list(POPULAR))]


class ActionAnswerProcedure(Action):
    """Answer a procedure question in context, or ask which procedure when unsure."""

    def name(self) -> str:
        return "action_answer_procedure"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        asked = entity(tracker, "aspect") or tracker.latest_message.get("aspect")
        key = entity(tracker, "procedure")
        ranking = ranking_of(tracker)
        current = tracker.get_slot("procedure")
        if (
            key is None
            and ranking
            and current is None
            and ranking[0]["confidence"] < SURE_OF_PROCEDURE
            and out_of_scope_confidence(tracker) >= DOUBT_OUT_OF_SCOPE
        ):
            # "vay ngân hàng mua nhà cần thế chấp sổ đỏ không": maybe a procedure, maybe not ours at all
            return ask_which(dispatcher, [r["key"] for r in ranking[:2]], asked, maybe_out_of_scope=True)
        if key is None and ranking and current and ranking[0]["key"] != current and asks_for_a_paper(tracker):
            # "bé chưa có cccd thì có phải nộp giấy khai sinh ko": a paper of the procedure talked about,
            # not the procedure that issues that paper
            key, asked = current, "documents"
        if key is None and ranking:
            if ranking[0]["confidence"] >= CONFIRM_BELOW:
                key = ranking[0]["key"]
            elif current is None:
                return ask_which(dispatcher, [r["key"] for r in ranking[:CANDIDATES]], asked)
            # Unsure which procedure a question describes, in a conversation already about one
            # ("có phải lên công an không"): it is about that one.
        if key is None:  # "cần giấy tờ gì", "cái đó bao lâu": about the procedure being talked about
            key = current
            if key is None:
                return ask_which(dispatcher, [], asked)
        # No aspect asked ("còn đổi bằng lái thì sao"), or the procedure named after "which one?"
        # ("mình muốn đăng ký khai sinh"): the aspect asked last.
        if asked is None or (asked == "overview" and tracker.get_slot("candidates")):
            asked = tracker.get_slot("aspect")
        return answer(dispatcher, tracker, key, asked or "overview")


def suspend(tracker: Tracker) -> List[EventType]:
    """Put the current walkthrough aside (to come back to it) and leave walkthrough mode."""
    key = tracker.get_slot("guide_procedure")
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
