"""actions/procedures.py and actions/common.py: answers by aspect, honest about sources and gaps."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from rasa_sdk.events import SlotSet

import actions.common
from actions.common import render_aspect, vnd
from actions.procedures import CONFIRM_BELOW, ActionAnswerProcedure


def parse(key: str, confidence: float, aspect: str = "overview", others: tuple[str, ...] = ("dang-ky-xe", "doi-gplx")) -> dict[str, Any]:
    ranking = [{"key": key, "confidence": confidence}] + [{"key": k, "confidence": 0.01} for k in others]
    return {"procedure": ranking[0], "procedure_ranking": ranking, "aspect": aspect}


@pytest.mark.parametrize(("amount", "text"), [(0, "miễn phí"), (10000, "10.000 đồng"), (1250000, "1.250.000 đồng")])
def test_common_vnd(amount: int, text: str) -> None:
    assert vnd(amount) == text


@pytest.mark.parametrize(
    ("today", "shown", "not_shown"),
    [
        (date(2026, 12, 31), ["100.000 đồng", "TT 64/2025/TT-BTC", "TT 117/2026/TT-BTC"], []),
        (date(2027, 1, 1), ["TT 117/2026/TT-BTC", "TT 28/2026/TT-BTC"], ["100.000 đồng", "TT 64/2025/TT-BTC"]),
        (date(2027, 3, 1), ["TT 28/2026/TT-BTC"], ["100.000 đồng", "TT 64/2025/TT-BTC", "TT 117/2026"]),
    ],
    indirect=["today"],
)
async def test_answer_fee_with_source_and_buttons(
    actions_catalogue: Any, dispatcher: Any, tracker_from: Any, today: date, shown: list[str], not_shown: list[str]
) -> None:
    tracker = tracker_from(text="làm hộ chiếu hết bao nhiêu tiền", parse=parse("ho-chieu", 0.9, "fee"))
    events = await ActionAnswerProcedure().run(dispatcher, tracker, {})
    assert SlotSet("procedure", "ho-chieu") in events and SlotSet("aspect", "fee") in events
    message = dispatcher.messages[0]
    assert all(text in message["text"] for text in shown), message["text"]
    assert not any(text in message["text"] for text in not_shown), message["text"]
    assert "Nguồn:" in message["text"] and "nguồn được kiểm tra ngày 15/07/2026" in message["text"]
    assert {"Xem giấy tờ cần chuẩn bị", "Hướng dẫn làm online từng bước", "Gặp cán bộ"} <= {b["title"] for b in message["buttons"]}


async def test_answer_asks_when_unsure(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    tracker = tracker_from(text="làm giấy tờ", parse=parse("the-can-cuoc", CONFIRM_BELOW - 0.1, others=("xac-nhan-so-cmnd", "ho-chieu")))
    events = await ActionAnswerProcedure().run(dispatcher, tracker, {})
    assert SlotSet("candidates", ["the-can-cuoc", "xac-nhan-so-cmnd", "ho-chieu"]) in events
    assert not any(e.get("name") == "procedure" for e in events)
    assert dispatcher.messages[0]["text"].startswith("Có phải bạn muốn hỏi")
    assert len(dispatcher.messages[0]["buttons"]) == 4


async def test_answer_side_question_mid_walkthrough_leaves_the_guide(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    # Since #11 a question about another procedure is answered and the walkthrough stays where it was.
    slots = {"procedure": "ho-chieu", "guide_procedure": "ho-chieu", "guide_step": 2}
    tracker = tracker_from(slots, text="đăng ký tạm trú thế nào", parse=parse("dang-ky-tam-tru", 0.95, "steps"))
    events = await ActionAnswerProcedure().run(dispatcher, tracker, {})
    assert SlotSet("procedure", "dang-ky-tam-tru") in events and SlotSet("aspect", "steps") in events
    assert not any(e.get("name") in ("guide_procedure", "guide_step") for e in events)
    assert dispatcher.messages[0]["text"].startswith("Các bước làm online – Đăng ký tạm trú")


@pytest.mark.parametrize("today", [date(2027, 1, 15)], indirect=True)
def test_render_expired_fee_is_not_stated(actions_catalogue: Any, today: date) -> None:
    text = render_aspect(actions_catalogue.get("ho-chieu"), "fee", {})
    assert "100.000" not in text and "200.000" not in text
    assert "Cấp hộ chiếu (mức thu theo TT 28/2026/TT-BTC sau khi hết mức giảm): chưa có mức phí được xác nhận" in text


@pytest.mark.parametrize("today", [date(2027, 1, 15)], indirect=True)
def test_render_fee_ended_without_successor_shows_the_caution(fixture_catalogue: Any, today: date) -> None:
    # The fixture passport record has no fee after 31/12/2026: the old figure becomes a caution.
    text = actions.common.render_aspect(fixture_catalogue.get("ho-chieu"), "fee", {"situation": "lost"})
    assert "200.000" not in text
    assert "mức cũ chỉ áp dụng đến 31/12/2026; mức hiện hành chưa được xác nhận" in text


def _answer_sets(procedure: Any) -> list[dict[str, str]]:
    """No answers, then every single answer to each question (what a citizen may have told us)."""
    return [{}] + [{q.id: o.id} for q in procedure.questions for o in q.options]


# Both sides of each date switch (issue #12): the TT 64/2025 reductions end on 31/12/2026, the TT 117/2026 waiver
# on 28/02/2027. Names of the fees of each act, looked up in the records, must not be shown once the act ended.
@pytest.mark.parametrize(
    ("today", "act", "shown"),
    [
        (date(2026, 12, 31), "TT 64/2025/TT-BTC", True),
        (date(2027, 1, 2), "TT 64/2025/TT-BTC", False),
        (date(2027, 2, 28), "TT 117/2026/TT-BTC", True),
        (date(2027, 3, 2), "TT 117/2026/TT-BTC", False),
    ],
    indirect=["today"],
)
@pytest.mark.parametrize("aspect", ["fee", "overview"])
def test_issue_12_no_ended_rate_shown_as_current(actions_catalogue: Any, today: date, act: str, shown: bool, aspect: str) -> None:
    seen = False
    for procedure in actions_catalogue.all():
        labels = [f.label for f in procedure.fees if f.legal_basis and act in f.legal_basis]
        for answers in _answer_sets(procedure):
            text = render_aspect(procedure, aspect, answers)
            hits = [label for label in labels if label in text]
            if not shown:
                assert hits == [] and act not in text and act.split("/")[0] not in text.split("Lưu ý")[0], (procedure.key, answers, text)
            seen = seen or bool(hits)
    assert seen is shown


@pytest.mark.parametrize("today", [date(2027, 3, 2)], indirect=True)
def test_issue_12_no_waiver_caveat_after_it_ended(actions_catalogue: Any, today: date) -> None:
    for procedure in actions_catalogue.all():
        for aspect in ("fee", "overview"):
            assert "TT 117/2026" not in render_aspect(procedure, aspect, {}), procedure.key


def test_render_fee_answer_shows_every_line_that_applies(actions_catalogue: Any, today: date) -> None:
    passport = actions_catalogue.get("ho-chieu")
    everyone = render_aspect(passport, "fee", {})
    assert "Cấp hộ chiếu mới (mức giảm đến 31/12/2026)" in everyone and "Cấp lại do mất, hỏng (đến 31/12/2026)" in everyone
    assert "Miễn lệ phí cho công dân có tài khoản định danh điện tử mức 2" in everyone
    lost = render_aspect(passport, "fee", {"situation": "lost"})
    assert "Cấp hộ chiếu mới (mức giảm" not in lost and "200.000 đồng" in lost
    overview = render_aspect(passport, "overview", {"situation": "first"})
    assert "100.000 đồng" in overview and "Miễn lệ phí cho công dân" in overview  # not only the first fee
    assert "Cấp hộ chiếu (mức thu theo TT 28/2026/TT-BTC sau khi hết mức giảm), áp dụng từ 01/01/2027" in overview


def test_render_caveat_line_under_the_answer(actions_catalogue: Any, today: date) -> None:
    fee = render_aspect(actions_catalogue.get("ho-chieu"), "fee", {})
    assert fee.splitlines()[-1].startswith("⚠️ Lưu ý: Mức lệ phí từ 01/01/2027 (TT 28/2026/TT-BTC")
    steps = render_aspect(actions_catalogue.get("the-can-cuoc"), "steps", {})
    assert steps.splitlines()[-1].startswith("⚠️ Lưu ý: Mã cũ (2.001195, 2.001194…) đã bị bãi bỏ theo QĐ 5230/QĐ-BCA-C06")
    assert "Lưu ý" not in render_aspect(actions_catalogue.get("khai-bao-tam-vang"), "fee", {})


def test_render_unconfirmed_not_needed_documents_carry_the_caution(actions_catalogue: Any, today: date) -> None:
    text = render_aspect(actions_catalogue.get("dang-ky-ket-hon"), "documents", {})
    assert "Việc không cần mang Giấy xác nhận tình trạng hôn nhân chưa được xác nhận (thông tin tham khảo, vui lòng kiểm tra lại)" in text
    assert "Việc không cần mang" not in render_aspect(actions_catalogue.get("ho-chieu"), "documents", {})


def test_common_today_is_vietnams_date_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # The autouse fixture patches actions.common.today; undone, the real one is Vietnam's date.
    from assistant.catalogue.dates import vietnam_today

    monkeypatch.undo()
    assert actions.common.today() == vietnam_today()


def test_render_unconfirmed_facts_carry_a_caution(actions_catalogue: Any) -> None:
    text = render_aspect(actions_catalogue.get("dang-ky-khai-tu"), "documents", {})
    assert "thông tin tham khảo, vui lòng kiểm tra lại" in text


@pytest.mark.parametrize("aspect", ["overview", "steps", "documents", "fee", "processing_time", "where", "eligibility", "result"])
def test_render_every_aspect_of_every_procedure(actions_catalogue: Any, aspect: str) -> None:
    for procedure in actions_catalogue.all():
        text = render_aspect(procedure, aspect, {})
        assert procedure.name in text and len(text) < 3500


def test_can_i_do_it_online_is_answered_with_who_may_and_how_to_submit(actions_catalogue: Any) -> None:
    # "làm hộ chiếu online được không" is labelled eligibility (docs/labelling.md): the answer says both.
    text = render_aspect(actions_catalogue.get("ho-chieu"), "eligibility", {})
    assert "Nộp online" in text and "VNeID" in text
