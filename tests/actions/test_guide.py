"""actions/guide.py: questions, checklist and the step-by-step walkthrough."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import SlotSet

from actions.guide import (
    ActionGuideChecklist,
    ActionGuideNext,
    ActionGuidePrevious,
    ActionGuideProgress,
    ActionGuideRepeat,
    ActionRestart,
    ActionStartGuide,
)
from actions.interview import ValidateGuideForm, match_option, match_yes_no


def at_step(key: str, index: int) -> list:
    """The slots of a walkthrough showing step ``index`` of ``key``."""
    return [SlotSet("guide_step", index), SlotSet("procedure", key), SlotSet("aspect", "steps")]


@pytest.fixture
def passport(actions_catalogue: Any) -> Any:
    return actions_catalogue.get("ho-chieu")


@pytest.mark.parametrize(
    ("said", "expected"),
    [("Bị mất, hỏng", "lost"), ("bi mat hong", "lost"), ("lost", "lost"), ("2", "lost"), ("lần đầu", "first"), ("hết hạn rồi", "expired"), ("gì cơ", None), ("", None)],
)
def test_guide_match_option_reads_buttons_and_free_text(passport: Any, said: str, expected: str | None) -> None:
    question = next(q for q in passport.questions if q.id == "situation")
    assert match_option(said, question.options) == expected


@pytest.mark.parametrize(
    ("said", "expected"),
    [("yes", "yes"), ("có rồi", "yes"), ("co roi", "yes"), ("đã có", "yes"), ("chưa có", "no"), ("chua", "no"), ("không", "no"), ("hả", None)],
)
def test_guide_match_yes_no(said: str, expected: str | None) -> None:
    assert match_yes_no(said) == expected


async def test_guide_form_asks_vneid_then_the_record_questions(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    form = ValidateGuideForm()
    tracker = tracker_from({"guide_procedure": "ho-chieu"})
    assert await form.required_slots([], dispatcher, tracker, {}) == ["guide_form_vneid", "guide_form_q1", "guide_form_q2"]
    no_vneid = tracker_from({"guide_procedure": "ho-chieu", "guide_form_vneid": "no"})
    assert await form.required_slots([], dispatcher, no_vneid, {}) == ["guide_form_vneid"]


async def test_guide_form_answer_is_stored_by_option_id(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    form = ValidateGuideForm()
    tracker = tracker_from({"guide_procedure": "ho-chieu", "guide_answers": {}})
    assert form.validate_guide_form_q1("bị mất", dispatcher, tracker, {}) == {
        "guide_form_q1": "lost",
        "guide_answers": {"situation": "lost"},
        "known_answers": {"ho-chieu": {"situation": "lost"}},
    }
    # a button's payload is the option id, underscores and all
    lltp = tracker_from({"guide_procedure": "ly-lich-tu-phap", "guide_answers": {}})
    assert form.validate_guide_form_q1("so_1", dispatcher, lltp, {})["guide_form_q1"] == "so_1"
    assert form.validate_guide_form_q1("không biết", dispatcher, tracker, {}) == {"guide_form_q1": None}
    assert "chọn giúp mình" in dispatcher.messages[-1]["text"]


async def test_guide_checklist_lists_what_not_to_bring_then_step_one(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    tracker = tracker_from({"guide_procedure": "ho-chieu", "guide_form_vneid": "yes", "guide_answers": {"situation": "lost", "applicant": "self"}})
    events = await ActionGuideChecklist().run(dispatcher, tracker, {})
    assert events == [
        SlotSet("guide_procedure", "ho-chieu"),
        SlotSet("guide_answers", {"situation": "lost", "applicant": "self"}),
        *at_step("ho-chieu", 0),
    ]
    checklist, step = dispatcher.messages
    assert checklist["custom"] == {"procedure": "ho-chieu", "aspect": "documents", "step": None, "steps": None}
    total = len(actions_catalogue.get("ho-chieu").steps_for({"situation": "lost", "applicant": "self"}))
    assert step["custom"] == {"procedure": "ho-chieu", "aspect": "steps", "step": 1, "steps": total}
    assert "Bạn KHÔNG cần mang/nộp" in checklist["text"] and "Nguồn:" in checklist["text"]
    assert step["text"].startswith("Bước 1/")
    assert [b["title"] for b in step["buttons"]] == ["Tiếp theo", "Quay lại", "Nhắc lại", "Gặp cán bộ"]


async def test_guide_without_vneid_detours_through_the_account(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    tracker = tracker_from({"guide_procedure": "ho-chieu", "guide_form_vneid": "no"})
    events = await ActionGuideChecklist().run(dispatcher, tracker, {})
    assert SlotSet("procedure", "tai-khoan-vneid-muc-2") in events
    assert SlotSet("return_to", "ho-chieu") in events
    assert "VNeID mức 2" in dispatcher.messages[0]["text"]


async def test_guide_next_and_previous_move_one_step(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    slots = {"guide_procedure": "ho-chieu", "guide_step": 1, "guide_answers": {"situation": "first", "applicant": "self"}}
    assert await ActionGuideNext().run(dispatcher, tracker_from(slots), {}) == at_step("ho-chieu", 2)
    assert dispatcher.messages[-1]["text"].startswith("Bước 3/")
    assert await ActionGuidePrevious().run(dispatcher, tracker_from(slots), {}) == at_step("ho-chieu", 0)
    assert dispatcher.messages[-1]["text"].startswith("Bước 1/")


async def test_guide_previous_on_the_first_step_stays_on_it(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    slots = {"guide_procedure": "ho-chieu", "guide_step": 0, "guide_answers": {"situation": "first", "applicant": "self"}}
    assert await ActionGuidePrevious().run(dispatcher, tracker_from(slots), {}) == at_step("ho-chieu", 0)
    assert "bước đầu tiên" in dispatcher.messages[0]["text"]
    assert dispatcher.messages[-1]["text"].startswith("Bước 1/") and dispatcher.messages[-1]["custom"]["step"] == 1


#: A saved step can lie outside the steps that apply now (the record has fewer since, or a slot was mangled).
OUT_OF_RANGE = {"before the first": -1, "just past the last": "last+1", "far past the last": 99}


@pytest.mark.parametrize("saved", list(OUT_OF_RANGE.values()), ids=list(OUT_OF_RANGE))
@pytest.mark.parametrize("action", [ActionGuideRepeat, ActionGuideProgress, ActionGuideChecklist], ids=["repeat", "progress", "resume"])
async def test_guide_shows_only_steps_that_exist(
    actions_catalogue: Any, dispatcher: Any, tracker_from: Any, action: Any, saved: Any
) -> None:
    """Bước k/N always has 1 ≤ k ≤ N, and the walkthrough's slot moves to the step shown."""
    answers = {"situation": "first", "applicant": "self"}
    total = len(actions_catalogue.get("ho-chieu").steps_for(answers))
    step = total if saved == "last+1" else saved
    shown = 1 if step < 0 else total
    slots = {"guide_procedure": "ho-chieu", "guide_step": step, "guide_answers": answers}
    assert await action().run(dispatcher, tracker_from(slots), {}) == at_step("ho-chieu", shown - 1)
    assert dispatcher.messages[-1]["text"].startswith(f"Bước {shown}/{total}: ")
    assert (dispatcher.messages[-1]["custom"]["step"], dispatcher.messages[-1]["custom"]["steps"]) == (shown, total)


@pytest.mark.parametrize("saved", ["last+1", 99])
async def test_guide_back_from_past_the_last_step_shows_the_one_before_the_last(
    actions_catalogue: Any, dispatcher: Any, tracker_from: Any, saved: Any
) -> None:
    answers = {"situation": "first", "applicant": "self"}
    total = len(actions_catalogue.get("ho-chieu").steps_for(answers))
    slots = {"guide_procedure": "ho-chieu", "guide_step": total if saved == "last+1" else saved, "guide_answers": answers}
    assert await ActionGuidePrevious().run(dispatcher, tracker_from(slots), {}) == at_step("ho-chieu", total - 2)
    assert dispatcher.messages[-1]["text"].startswith(f"Bước {total - 1}/{total}: ")


async def test_guide_past_the_last_step_gives_result_and_rating(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    answers = {"situation": "first", "applicant": "self"}
    last = len(actions_catalogue.get("ho-chieu").steps_for(answers)) - 1
    events = await ActionGuideNext().run(dispatcher, tracker_from({"guide_procedure": "ho-chieu", "guide_step": last, "guide_answers": answers}), {})
    assert events == [SlotSet("guide_step", None), SlotSet("procedure", "ho-chieu")]
    assert "Kết quả" in dispatcher.messages[0]["text"]
    assert [b["title"] for b in dispatcher.messages[-1]["buttons"]] == ["1", "2", "3", "4", "5"]


async def test_guide_next_outside_a_walkthrough_offers_one(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    assert await ActionGuideNext().run(dispatcher, tracker_from({}), {}) == []
    assert "chưa làm dở" in dispatcher.messages[0]["text"]
    # after a passport answer, "tiếp" offers that passport's guide
    await ActionGuideNext().run(dispatcher, tracker_from({"procedure": "ho-chieu"}), {})
    assert "Hộ chiếu" in dispatcher.messages[-1]["text"]
    assert any(b["payload"].startswith("/start_guide") for b in dispatcher.messages[-1]["buttons"])


async def test_guide_restart_goes_back_to_step_one(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    slots = {"guide_procedure": "ho-chieu", "guide_step": 4, "guide_answers": {}}
    assert await ActionRestart().run(dispatcher, tracker_from(slots), {}) == at_step("ho-chieu", 0)
    assert dispatcher.messages[-1]["text"].startswith("Bước 1/")


async def test_guide_restart_is_silent_while_with_staff(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    from rasa_sdk.events import ConversationPaused

    events = await ActionRestart().run(dispatcher, tracker_from({"guide_procedure": "ho-chieu", "guide_step": 2}, paused=True), {})
    assert events == [ConversationPaused()] and dispatcher.messages == []


async def test_guide_start_skips_what_the_citizen_already_said(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    tracker = tracker_from({"procedure": "the-can-cuoc"}, text="mat cccd roi lam lai the nao")
    events = await ActionStartGuide().run(dispatcher, tracker, {})
    assert SlotSet("guide_form_q1", "lost") in events
    assert SlotSet("guide_answers", {"situation": "lost"}) in events
    assert "hỏi nhanh" in dispatcher.messages[0]["text"]  # the VNeID question is still to come


@pytest.mark.parametrize(
    ("said", "intent", "expected"),
    [
        ("mất rồi", "deny", {"guide_form_q1": "lost"}),
        ("làm cho con 5 tuổi", "ask_procedure", {}),  # not the question asked: left for q2
        ("phí bao nhiêu nhỉ", "ask_procedure", {}),  # a side question: the form steps aside
        ("tiếp", "next_step", {}),
        ("ừm", "affirm", {"guide_form_q1": None}),  # an answer, but to nothing asked: ask again
    ],
)
async def test_guide_form_reads_free_text_answers(
    actions_catalogue: Any, dispatcher: Any, tracker_from: Any, said: str, intent: str, expected: dict
) -> None:
    form = ValidateGuideForm()
    tracker = tracker_from(
        {"guide_procedure": "ho-chieu", "guide_form_vneid": "yes", "requested_slot": "guide_form_q1"}, text=said, intent=intent
    )
    assert await form.extract_guide_form_q1(dispatcher, tracker, {}) == expected


async def test_guide_form_fills_a_later_question_from_situation_words(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    form = ValidateGuideForm()
    tracker = tracker_from(
        {"guide_procedure": "ho-chieu", "guide_form_vneid": "yes", "requested_slot": "guide_form_q1"},
        text="hộ chiếu cho bé nhà em 3 tuổi, lần đầu",
        intent="ask_procedure",
    )
    assert await form.extract_guide_form_q1(dispatcher, tracker, {}) == {"guide_form_q1": "first"}
    assert await form.extract_guide_form_q2(dispatcher, tracker, {}) == {"guide_form_q2": "child"}


async def test_guide_form_takes_an_answer_given_meanwhile(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    # "Cấp lại (mất thẻ)" pressed under a fee answer while the VNeID question waited, then "Có rồi"
    form = ValidateGuideForm()
    tracker = tracker_from(
        {"guide_procedure": "the-can-cuoc", "requested_slot": "guide_form_vneid", "known_answers": {"the-can-cuoc": {"situation": "lost"}}},
        text='/choose_option{"option": "yes"}',
        intent="choose_option",
        entities=[{"entity": "option", "value": "yes"}],
    )
    assert await form.extract_guide_form_vneid(dispatcher, tracker, {}) == {}
    assert await form.extract_guide_form_q1(dispatcher, tracker, {}) == {"guide_form_q1": "lost"}


async def test_guide_start_takes_the_procedure_the_message_names(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    ranking = [{"key": "khai-bao-tam-vang", "confidence": 0.93}, {"key": "dang-ky-tam-tru", "confidence": 0.04}]
    tracker = tracker_from(
        {"procedure": "ho-chieu"}, text="hướng dẫn mình khai báo tạm vắng online", intent="start_guide", parse={"procedure_ranking": ranking}
    )
    events = await ActionStartGuide().run(dispatcher, tracker, {})
    assert SlotSet("guide_procedure", "khai-bao-tam-vang") in events


async def test_guide_another_guide_puts_the_running_one_aside_and_back(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    running = {"guide_procedure": "ho-chieu", "guide_step": 2, "guide_answers": {"situation": "first"}}
    tracker = tracker_from(running, intent="start_guide", entities=[{"entity": "procedure", "value": "dang-ky-tam-tru"}])
    events = await ActionStartGuide().run(dispatcher, tracker, {})
    saved = {"procedure": "ho-chieu", "step": 2, "answers": {"situation": "first"}}
    assert SlotSet("suspended", saved) in events and SlotSet("guide_procedure", "dang-ky-tam-tru") in events
    back = tracker_from({"suspended": saved}, intent="start_guide", entities=[{"entity": "procedure", "value": "ho-chieu"}])
    events = await ActionStartGuide().run(dispatcher, back, {})
    assert SlotSet("guide_step", 2) in events and SlotSet("suspended", None) in events
    assert "đúng chỗ bạn đang làm" in dispatcher.messages[-1]["text"]


async def test_guide_next_after_the_last_step_says_it_is_done(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    await ActionGuideNext().run(dispatcher, tracker_from({"guide_procedure": "dang-ky-thi-thpt", "procedure": "dang-ky-thi-thpt"}), {})
    assert "đã đi hết các bước" in dispatcher.messages[0]["text"]
