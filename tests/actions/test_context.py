"""actions/procedures.py + actions/context.py: answers that hold the conversation (#11)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import SlotSet

from actions.procedures import CONFIRM_BELOW, ActionAnswerProcedure
from assistant.replies import replies_of


def parse(key: str | None, confidence: float = 0.95, aspect: str | None = "overview") -> dict[str, Any]:
    ranking = [{"key": key, "confidence": confidence}, {"key": "dang-ky-xe", "confidence": 0.01}] if key else []
    return {"procedure": ranking[0] if ranking else None, "procedure_ranking": ranking, "aspect": aspect}


def user(text: str, key: str | None) -> dict[str, Any]:
    """A user event as the tracker store keeps it."""
    return {"event": "user", "text": text, "parse_data": {"procedure": {"key": key, "confidence": 0.9} if key else None}}


async def run(tracker: Any, dispatcher: Any) -> list:
    return await ActionAnswerProcedure().run(dispatcher, tracker, {})


async def test_context_aspect_only_question_answers_the_current_procedure(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    tracker = tracker_from({"procedure": "ho-chieu", "aspect": "fee"}, text="cần giấy tờ gì", parse=parse(None, aspect="documents"))
    events = await run(tracker, dispatcher)
    assert SlotSet("procedure", "ho-chieu") in events and SlotSet("aspect", "documents") in events
    assert dispatcher.messages[0]["text"].startswith("Giấy tờ cần chuẩn bị – Cấp hộ chiếu")
    assert dispatcher.messages[0]["custom"] == {"procedure": "ho-chieu", "aspect": "documents", "step": None, "steps": None}


async def test_context_aspect_first_asks_which_procedure_then_answers_that_aspect(
    actions_catalogue: Any, dispatcher: Any, tracker_from: Any
) -> None:
    first = tracker_from({}, text="nộp ở đâu", parse=parse(None, aspect="where"))
    events = await run(first, dispatcher)
    assert SlotSet("aspect", "where") in events
    assert not any(e.get("name") == "procedure" for e in events)
    assert "nơi làm của thủ tục nào" in dispatcher.messages[0]["text"] and not dispatcher.messages[0]["custom"]
    # the citizen names it, in words that ask nothing else
    candidates = next(e["value"] for e in events if e.get("name") == "candidates")
    then = tracker_from({"aspect": "where", "candidates": candidates}, text="khai sinh cho con", parse=parse("dang-ky-khai-sinh"))
    events = await run(then, dispatcher)
    assert SlotSet("procedure", "dang-ky-khai-sinh") in events and SlotSet("aspect", "where") in events
    assert dispatcher.messages[-1]["text"].startswith("Nơi giải quyết – Đăng ký khai sinh")


async def test_context_switch_keeps_the_aspect_asked_last(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    tracker = tracker_from(
        {"procedure": "ho-chieu", "aspect": "processing_time"}, text="còn đổi bằng lái thì sao", parse=parse("doi-gplx", aspect=None)
    )
    events = await run(tracker, dispatcher)
    assert SlotSet("procedure", "doi-gplx") in events and SlotSet("aspect", "processing_time") in events


async def test_context_unsure_question_in_a_conversation_is_about_its_procedure(
    actions_catalogue: Any, dispatcher: Any, tracker_from: Any
) -> None:
    tracker = tracker_from(
        {"procedure": "the-can-cuoc"}, text="có phải lên công an không", parse=parse("dang-ky-con-dau", CONFIRM_BELOW - 0.2, "eligibility")
    )
    events = await run(tracker, dispatcher)
    assert SlotSet("procedure", "the-can-cuoc") in events and SlotSet("aspect", "eligibility") in events
    assert "Phải đến trực tiếp" in dispatcher.messages[0]["text"]


async def test_context_situation_from_free_text_shapes_the_answer(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    tracker = tracker_from({}, text="mat cccd roi lam lai the nao", parse=parse("the-can-cuoc", aspect="steps"))
    events = await run(tracker, dispatcher)
    assert SlotSet("known_answers", {"the-can-cuoc": {"situation": "lost"}}) in events
    text = dispatcher.messages[0]["text"]
    assert "Vào Cổng Dịch vụ công" in text and "sinh trắc" not in text.split("Bấm")[0].lower()
    assert not any(b["title"] == "Làm thẻ lần đầu" for b in dispatcher.messages[0]["buttons"])  # not asked again


async def test_context_situation_said_earlier_in_the_chat_counts(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    tracker = tracker_from({"procedure": "ho-chieu"}, text="phí bao nhiêu", parse=parse(None, aspect="fee"))
    tracker.events = [user("ho chieu cua minh het han roi", "ho-chieu"), user("phí bao nhiêu", None)]
    await run(tracker, dispatcher)
    text = dispatcher.messages[0]["text"]
    assert "hết hạn" in text and "mất, hỏng (" not in text


async def test_context_unknown_situation_that_matters_offers_its_options(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    tracker = tracker_from({}, text="làm căn cước mất bao nhiêu tiền", parse=parse("the-can-cuoc", aspect="fee"))
    events = await run(tracker, dispatcher)
    assert not any(e.get("name") == "known_answers" for e in events)  # "mất bao nhiêu" is no lost card
    message = dispatcher.messages[0]
    assert "Tùy trường hợp của bạn" in message["text"]
    chosen = next(b for b in message["buttons"] if b["title"] == "Cấp lại (mất thẻ)")
    assert '"option": "situation:lost"' in chosen["payload"]
    # pressing it answers the fee again, for that case only
    pressed = tracker_from(
        {"procedure": "the-can-cuoc", "aspect": "fee"},
        text=chosen["payload"],
        entities=[{"entity": "procedure", "value": "the-can-cuoc"}, {"entity": "aspect", "value": "fee"}, {"entity": "option", "value": "situation:lost"}],
        parse=parse(None, aspect=None),
    )
    events = await run(pressed, dispatcher)
    assert SlotSet("known_answers", {"the-can-cuoc": {"situation": "lost"}}) in events
    assert "Tùy trường hợp" not in dispatcher.messages[-1]["text"]


async def test_context_side_question_offers_the_way_back_to_the_step(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    slots = {"procedure": "ho-chieu", "guide_procedure": "ho-chieu", "guide_step": 1}
    tracker = tracker_from(slots, text="phí bao nhiêu nhỉ", parse=parse(None, aspect="fee"))
    await run(tracker, dispatcher)
    titles = [b["title"] for b in dispatcher.messages[0]["buttons"]]
    assert titles[:2] == ["Tiếp tục Hộ chiếu phổ thông: bước 3", "Nhắc lại bước 2"]


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([{"recipient_id": "a", "text": "x", "buttons": []}, {"recipient_id": "a", "custom": {"procedure": "p"}}], [("x", {"procedure": "p"})]),
        ([{"recipient_id": "a", "custom": {"k": 1}}], [(None, {"k": 1})]),
        ([{"recipient_id": "a", "text": "x"}, {"recipient_id": "a", "text": "y"}], [("x", None), ("y", None)]),
    ],
)
def test_engine_answer_metadata_rides_on_its_text(messages: list, expected: list) -> None:
    assert [(r.text, r.custom) for r in replies_of(messages, "a")] == expected


def test_context_caveat_about_another_situation_is_not_shown(actions_catalogue: Any) -> None:
    from actions.common import render_aspect

    passport = actions_catalogue.get("ho-chieu")
    assert "mất, hỏng" not in render_aspect(passport, "fee", {"situation": "first", "applicant": "self"})
    assert "Cấp lại do mất, hỏng có được miễn" in render_aspect(passport, "fee", {"situation": "lost", "applicant": "self"})


async def test_context_a_message_that_only_tells_the_case_updates_the_answer(
    actions_catalogue: Any, dispatcher: Any, tracker_from: Any
) -> None:
    from actions.conversation import ActionOutOfScope

    slots = {"procedure": "dang-ky-ket-hon", "aspect": "documents"}
    events = await ActionOutOfScope().run(dispatcher, tracker_from(slots, text="vo e nguoi han quoc", intent="out_of_scope"), {})
    assert SlotSet("known_answers", {"dang-ky-ket-hon": {"situation": "foreign"}}) in events
    assert dispatcher.messages[0]["custom"]["aspect"] == "documents"
    # a real out-of-scope question is still one
    dispatcher.messages.clear()
    assert await ActionOutOfScope().run(dispatcher, tracker_from(slots, text="thời tiết mai thế nào", intent="out_of_scope"), {}) == []
    assert dispatcher.messages[0]["response"] == "utter_out_of_scope"


@pytest.mark.parametrize("said", ["mình ở đà nẵng", "nha em o binh duong", "tôi đang sống ở Huế"])
async def test_context_where_the_citizen_lives_is_a_where_question(
    actions_catalogue: Any, dispatcher: Any, tracker_from: Any, said: str
) -> None:
    from actions.conversation import ActionOutOfScope

    events = await ActionOutOfScope().run(dispatcher, tracker_from({"procedure": "dang-ky-xe", "aspect": "fee"}, text=said), {})
    assert SlotSet("aspect", "where") in events and dispatcher.messages[0]["text"].startswith("Nơi giải quyết")


async def test_context_a_doubtful_first_question_is_not_answered_as_the_nearest_procedure(
    actions_catalogue: Any, dispatcher: Any, tracker_from: Any
) -> None:
    doubtful = {**parse("dang-ky-bien-dong-dat-dai", 0.82, "eligibility"), "intent_ranking": [
        {"name": "ask_procedure", "confidence": 0.54}, {"name": "out_of_scope", "confidence": 0.46}]}
    events = await run(tracker_from({}, text="vay ngân hàng mua nhà cần thế chấp sổ đỏ không", parse=doubtful), dispatcher)
    assert not any(e.get("name") == "procedure" for e in events)
    assert "ngoài 26 dịch vụ" in dispatcher.messages[0]["text"] and not dispatcher.messages[0]["custom"]
    # in a conversation already about a procedure, the same doubt is a follow-up and answered
    events = await run(tracker_from({"procedure": "dang-ky-bien-dong-dat-dai"}, text="có cần công chứng không", parse=doubtful), dispatcher)
    assert SlotSet("procedure", "dang-ky-bien-dong-dat-dai") in events


async def test_context_asking_for_a_paper_stays_on_the_procedure(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    slots = {"procedure": "ho-chieu", "aspect": "documents"}
    text = "bé chưa có cccd thì có phải nộp giấy khai sinh ko ad"
    events = await run(tracker_from(slots, text=text, parse=parse("dang-ky-khai-sinh", 0.9, "eligibility")), dispatcher)
    assert SlotSet("procedure", "ho-chieu") in events and SlotSet("aspect", "documents") in events


def test_context_eligibility_without_a_fact_says_how_the_case_starts(actions_catalogue: Any) -> None:
    from actions.common import render_aspect

    fines = actions_catalogue.get("nop-phat-giao-thong")
    assert "Cần có quyết định xử phạt" in render_aspect(fines, "eligibility", {"decision": "not_yet"})
    assert "Cần có quyết định xử phạt" not in render_aspect(fines, "eligibility", {"decision": "issued"})
