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


async def test_answer_fee_with_source_and_buttons(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    tracker = tracker_from(text="làm hộ chiếu hết bao nhiêu tiền", parse=parse("ho-chieu", 0.9, "fee"))
    events = await ActionAnswerProcedure().run(dispatcher, tracker, {})
    assert SlotSet("procedure", "ho-chieu") in events and SlotSet("aspect", "fee") in events
    message = dispatcher.messages[0]
    assert "100.000 đồng" in message["text"] and "TT 64/2025/TT-BTC" in message["text"]
    assert "Nguồn:" in message["text"] and "đối chiếu ngày" in message["text"]
    assert [b["title"] for b in message["buttons"]] == ["Xem giấy tờ cần chuẩn bị", "Hướng dẫn làm online từng bước", "Gặp cán bộ"]


async def test_answer_asks_when_unsure(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    tracker = tracker_from(text="làm giấy tờ", parse=parse("the-can-cuoc", CONFIRM_BELOW - 0.1, others=("xac-nhan-so-cmnd", "ho-chieu")))
    events = await ActionAnswerProcedure().run(dispatcher, tracker, {})
    assert events == [SlotSet("candidates", ["the-can-cuoc", "xac-nhan-so-cmnd", "ho-chieu"])]
    assert dispatcher.messages[0]["text"].startswith("Có phải bạn muốn hỏi")
    assert len(dispatcher.messages[0]["buttons"]) == 4


async def test_answer_offers_to_switch_mid_walkthrough(actions_catalogue: Any, dispatcher: Any, tracker_from: Any) -> None:
    slots = {"procedure": "ho-chieu", "guide_step": 2}
    tracker = tracker_from(slots, text="đăng ký tạm trú thế nào", parse=parse("dang-ky-tam-tru", 0.95, "steps"))
    events = await ActionAnswerProcedure().run(dispatcher, tracker, {})
    assert events == [SlotSet("switch_to", "dang-ky-tam-tru"), SlotSet("aspect", "steps")]
    assert "làm dở" in dispatcher.messages[0]["text"]


def test_render_expired_fee_is_not_stated(actions_catalogue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actions.common, "today", lambda: date(2027, 1, 15))
    text = render_aspect(actions_catalogue.get("ho-chieu"), "fee", {})
    assert "100.000" not in text
    assert "mức hiện hành chưa được xác nhận" in text


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
