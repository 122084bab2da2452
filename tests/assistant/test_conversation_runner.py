"""The conversation-test runner: loading, folding, clicks, metadata and the report (no model: a fake app)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from assistant.conversations import (
    SECTION_END,
    SECTION_START,
    Conversation,
    ConversationFormatError,
    Turn,
    find_button,
    format_report,
    kept_section,
    load_conversations,
    problems,
    rest_sender,
    run_all,
    write_section,
)

FEE = {"text": "Lệ phí làm hộ chiếu: 100.000 đồng", "custom": {"procedure": "ho-chieu", "aspect": "fee", "step": None, "steps": None}}
STEP_ONE = {
    "text": "Bước 1/7: Vào Cổng Dịch vụ công",
    "buttons": [{"title": "Tiếp theo", "payload": "/next_step"}, {"title": "Quay lại", "payload": "/previous_step"}],
    "custom": {"procedure": "ho-chieu", "aspect": "steps", "step": 1, "steps": 7},
}
VNEID = {
    "text": "Bạn đã có tài khoản VNeID mức 2 chưa?",
    "buttons": [{"title": "Có rồi", "payload": "/choose_option{\"option\": \"yes\"}"}, {"title": "Chưa có", "payload": "/choose_option{\"option\": \"no\"}"}],
}


@pytest.mark.parametrize(
    ("expectation", "ok"),
    [
        ({"any": ["LE PHI"]}, True),
        ({"any": ["lệ phí"]}, True),
        ({"any": ["dong"]}, True),
        ({"any": ["giấy tờ", "thoi gian"]}, False),
        ({"none": ["100.000 ĐỒNG"]}, False),
        ({"none": ["miễn phí"]}, True),
    ],
)
def test_conversations_text_is_compared_folded(expectation: dict[str, list[str]], ok: bool) -> None:
    turn = Turn(say="x", any=tuple(expectation.get("any", [])), none=tuple(expectation.get("none", [])))

    assert (problems(turn, [FEE]) == []) is ok


def test_conversations_button_titles_count_as_reply_text() -> None:
    assert problems(Turn(say="x", any=("chua co",)), [VNEID]) == []


@pytest.mark.parametrize(
    ("expect", "ok"),
    [
        ({"procedure": "ho-chieu"}, True),
        ({"procedure": "ho-chieu", "aspect": "fee"}, True),
        ({"procedure": "ho-chieu", "aspect": "documents"}, False),
        ({"procedure": "doi-gplx"}, False),
        ({"procedure": "ho-chieu", "step": 1}, True),
        ({"step": 2}, False),
        ({"procedure": None}, False),
    ],
)
def test_conversations_metadata_matches_one_reply_on_every_key(expect: dict[str, Any], ok: bool) -> None:
    plain = {"text": "Bạn cần gì nữa không?"}

    assert (problems(Turn(say="x", expect=expect), [plain, FEE, STEP_ONE]) == []) is ok


def test_conversations_keys_must_match_on_the_same_reply() -> None:
    # aspect=fee is on one message and step=1 on another: no single reply says both.
    assert problems(Turn(say="x", expect={"aspect": "fee", "step": 1}), [FEE, STEP_ONE]) != []


def test_conversations_null_procedure_means_no_reply_carries_one() -> None:
    out_of_scope = {"text": "Câu này nằm ngoài phạm vi của mình.", "custom": {"procedure": None}}

    assert problems(Turn(say="x", expect={"procedure": None}), [out_of_scope, {"text": "…"}]) == []
    assert problems(Turn(say="x", expect={"procedure": None}), []) == []
    assert "expected no procedure, got ho-chieu" in problems(Turn(say="x", expect={"procedure": None}), [FEE])


def test_conversations_metadata_expected_but_absent_fails() -> None:
    assert problems(Turn(say="x", expect={"procedure": "ho-chieu"}), [{"text": "Lệ phí 100.000 đồng"}]) != []


@pytest.mark.parametrize(
    ("part", "payload"),
    [
        ("có rồi", '/choose_option{"option": "yes"}'),
        ("CO ROI", '/choose_option{"option": "yes"}'),
        ("chưa", '/choose_option{"option": "no"}'),
        ("co", '/choose_option{"option": "yes"}'),
        ("tiep", None),
    ],
)
def test_conversations_click_finds_a_button_by_folded_part_of_its_title(part: str, payload: str | None) -> None:
    button = find_button([VNEID], part)

    assert (button or {}).get("payload") == payload


def test_conversations_click_prefers_an_exact_title() -> None:
    replies = [{"buttons": [{"title": "Hướng dẫn hộ chiếu", "payload": "/a"}, {"title": "Hộ chiếu", "payload": "/b"}]}]

    assert find_button(replies, "ho chieu") == {"title": "Hộ chiếu", "payload": "/b"}


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_conversations_load_every_file_of_a_folder(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "- id: a\n  about: x\n  turns:\n    - {say: làm hộ chiếu, procedure: ho-chieu}\n")
    write(tmp_path, "b.yml", "- id: b\n  turns:\n    - {say: chào}\n    - {click: có rồi, step: 1, any: [bước], none: x}\n")

    loaded = load_conversations(tmp_path)

    assert [c.id for c in loaded] == ["a", "b"]
    assert loaded[0].turns[0].expect == {"procedure": "ho-chieu"}
    assert loaded[1].turns[1] == Turn(click="có rồi", expect={"step": 1}, any=("bước",), none=("x",))
    assert loaded[1].source == "b.yml"


@pytest.mark.parametrize(
    "turns",
    [
        "    - {say: a, click: b}\n",
        "    - {procedure: ho-chieu}\n",
        "    - {say: a, proceduer: ho-chieu}\n",
        "    - {say: a, step: first}\n",
        "    - {say: ''}\n",
    ],
)
def test_conversations_malformed_turns_are_refused(tmp_path: Path, turns: str) -> None:
    path = write(tmp_path, "bad.yml", "- id: bad\n  turns:\n" + turns)

    with pytest.raises(ConversationFormatError):
        load_conversations(path)


def test_conversations_duplicate_ids_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "- id: same\n  turns: [{say: a}]\n")
    write(tmp_path, "b.yml", "- id: same\n  turns: [{say: b}]\n")

    with pytest.raises(ConversationFormatError, match="same"):
        load_conversations(tmp_path)


# --- a fake app on the real route ------------------------------------------------------------------


def fake_app(log: list[tuple[str, str]]) -> FastAPI:
    """Answers like the contract: a fee answer, the VNeID question, step 1 after "yes", else nothing."""
    app = FastAPI()

    @app.post("/webhooks/rest/webhook")
    async def webhook(request: Request) -> list[dict[str, Any]]:
        body = await request.json()
        log.append((body["sender"], body["message"]))
        message = body["message"]
        if "tiền" in message:
            return [FEE]
        if "hướng dẫn" in message:
            return [VNEID]
        if "yes" in message:
            return [STEP_ONE]
        return [{"text": "Câu này nằm ngoài phạm vi của mình."}]

    return app


async def play(conversations: list[Conversation], log: list[tuple[str, str]]) -> Any:
    transport = httpx.ASGITransport(app=fake_app(log))
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
        return await run_all(conversations, rest_sender(client), concurrency=2)


GUIDE = Conversation(
    "guide",
    "fee, then the guide",
    (
        Turn(say="làm hộ chiếu hết bao nhiêu tiền", expect={"procedure": "ho-chieu", "aspect": "fee"}),
        Turn(say="hướng dẫn mình làm online", any=("vneid",)),
        Turn(click="co roi", expect={"procedure": "ho-chieu", "step": 1}),
    ),
)
LOST = Conversation(
    "lost",
    "a missing button fails the turn and the chat",
    (
        Turn(say="ly hôn thế nào", expect={"procedure": None}, any=("ngoai pham vi",)),
        Turn(click="tiếp theo", expect={"step": 2}),
        Turn(say="làm hộ chiếu hết bao nhiêu tiền", expect={"procedure": "ho-chieu"}),
    ),
)


async def test_conversations_run_through_the_rest_route_and_score() -> None:
    log: list[tuple[str, str]] = []

    results = await play([GUIDE, LOST], log)

    assert [(r.conversation, r.number, r.passed) for r in results.turns] == [
        ("guide", 1, True), ("guide", 2, True), ("guide", 3, True),
        ("lost", 1, True), ("lost", 2, False), ("lost", 3, True),
    ]
    assert results.chats() == {"guide": True, "lost": False}
    assert results.turn_accuracy == pytest.approx(5 / 6)
    assert results.chat_accuracy == pytest.approx(0.5)
    assert "no button 'tiếp theo'" in results.misses[0].problems[0]
    # The click sent the button's payload; the failed click sent nothing.
    assert [m for _, m in log] == [
        "làm hộ chiếu hết bao nhiêu tiền", "hướng dẫn mình làm online", '/choose_option{"option": "yes"}',
        "ly hôn thế nào", "làm hộ chiếu hết bao nhiêu tiền",
    ]


async def test_conversations_each_chat_has_its_own_fresh_sender() -> None:
    first: list[tuple[str, str]] = []
    second: list[tuple[str, str]] = []

    await play([GUIDE, LOST], first)
    await play([GUIDE, LOST], second)

    guide = {s for s, _ in first[:3]}
    assert len(guide) == 1 and guide.isdisjoint({s for s, _ in first[3:]})
    assert {s for s, _ in first}.isdisjoint({s for s, _ in second})


async def test_conversations_report_lists_misses_with_what_was_got() -> None:
    results = await play([LOST], [])
    results.turns[0].problems.append("expected procedure=ho-chieu")

    report = format_report(results, name="tests/conversations", files=["x.yml"])

    assert "| turns | 1 | 3 | 33.3% |" in report
    assert "| whole conversations | 0 | 1 | 0.0% |" in report
    assert "lost #1 “ly hôn thế nào”: expected procedure=ho-chieu — got [no metadata] “Câu này nằm ngoài" in report
    assert "lost #2 “[click tiếp theo]”: no button" in report


def test_conversations_report_section_replaces_only_itself(tmp_path: Path) -> None:
    report = tmp_path / "nlu-evaluation.md"
    report.write_text("# NLU evaluation\n\nnumbers\n", encoding="utf-8")

    write_section(report, "## Multi-turn conversations\n\nfirst\n")
    write_section(report, "## Multi-turn conversations\n\nsecond\n")

    text = report.read_text(encoding="utf-8")
    assert text.startswith("# NLU evaluation\n\nnumbers\n\n" + SECTION_START)
    assert "second" in text and "first" not in text and text.count(SECTION_END) == 1
    assert kept_section(report).startswith(SECTION_START) and "second" in kept_section(report)
    assert kept_section(tmp_path / "missing.md") == ""
