"""End to end through a real server: trained model, SQLite tracker store, REST channel, actions endpoint,
and the Zalo and Messenger channels answering to fake platforms on loopback.

These are the issue's "done when" checks, as a citizen would see them.
"""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.channels.messenger_send import messenger_messages
from assistant.channels.zalo_send import zalo_messages
from assistant.engine import Reply
from tests.assistant.channels import test_messenger as messenger_tests
from tests.assistant.channels import test_zalo as zalo_tests
from tests.assistant.channels.fakes import FakePlatform, graph_answer
from tests.conftest import TODAY
from tests.live import LiveServer
from tests.staff_login import staff_login

pytestmark = pytest.mark.slow
STEP = re.compile(r"Bước (\d+)/(\d+):")


class DatedServer(LiveServer):
    """A live server whose "today" is set through ``ASSISTANT_TODAY``, never taken from the calendar."""

    def __init__(self, *, today: date, database_url: str, log: Path, settings: dict[str, str]) -> None:
        super().__init__(database_url=database_url, log=log, settings=settings)
        self.today = today

    def env(self) -> dict[str, str]:
        env = super().env()
        env["ASSISTANT_TODAY"] = self.today.isoformat()
        return env

    def on(self, day: date) -> DatedServer:
        """Restart the server on ``day`` (a no-op when it already runs on that day)."""
        if day != self.today:
            self.stop()
            self.today = day
            self.start()
        return self


@pytest.fixture(scope="module")
def zalo_api() -> Iterator[FakePlatform]:
    """Zalo's OA API, faked on loopback: it records what the server sends and accepts it."""
    with FakePlatform(answer=lambda _status: {"error": 0, "message": "Success", "data": {"message_id": "m"}}) as fake:
        yield fake


@pytest.fixture(scope="module")
def graph_api() -> Iterator[FakePlatform]:
    """Meta's Send API, faked on loopback."""
    with FakePlatform(answer=graph_answer(messenger_tests.PSID), prefix="/v21.0") as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, zalo_api: FakePlatform, graph_api: FakePlatform) -> Iterator[DatedServer]:
    folder = tmp_path_factory.mktemp("e2e")
    channels = {  # Zalo and Messenger on, their APIs on loopback (without these secrets both are 404: unit tests)
        "ASSISTANT_ZALO_APP_ID": zalo_tests.APP_ID,
        "ASSISTANT_ZALO_OA_SECRET": zalo_tests.OA_SECRET,
        "ASSISTANT_ZALO_ACCESS_TOKEN": zalo_tests.ACCESS_TOKEN,
        "ASSISTANT_ZALO_API_BASE": zalo_api.url,
        "ASSISTANT_MESSENGER_VERIFY_TOKEN": messenger_tests.VERIFY_TOKEN,
        "ASSISTANT_MESSENGER_APP_SECRET": messenger_tests.APP_SECRET,
        "ASSISTANT_MESSENGER_PAGE_TOKEN": messenger_tests.PAGE_TOKEN,
        "ASSISTANT_MESSENGER_API_BASE": graph_api.url,
    }
    live = DatedServer(
        today=TODAY, database_url=f"sqlite:///{folder / 'assistant.db'}", log=folder / "server.log", settings=channels
    )
    live.start()  # on an empty database: serve loads procedures/ itself
    yield live
    live.stop()


def steps_in(replies: list[dict]) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in STEP.findall(LiveServer.texts(replies))]


def test_health_is_ok_on_a_fresh_database(server: LiveServer) -> None:
    import httpx

    body = httpx.get(f"{server.url}/health").json()
    assert body["status"] == "ok" and body["procedures"] == 26


def test_greeting_in_vietnamese(server: LiveServer) -> None:
    replies = server.say("greet-1", "xin chào")
    assert "Xin chào" in server.texts(replies)
    assert "Xem tất cả dịch vụ" in server.buttons(replies)


# Both sides of each date switch, on the server's own clock (ASSISTANT_TODAY): the TT 64/2025 reduced passport
# fee ends on 31/12/2026, the TT 117/2026 waiver on 28/02/2027.
@pytest.mark.parametrize(
    ("today", "shown", "not_shown"),
    [
        (TODAY, ["100.000 đồng", "31/12/2026", "TT 64/2025/TT-BTC", "TT 117/2026/TT-BTC"], []),
        (date(2027, 1, 2), ["TT 117/2026/TT-BTC", "TT 28/2026/TT-BTC"], ["100.000 đồng", "TT 64/2025/TT-BTC"]),
        (date(2027, 3, 2), ["TT 28/2026/TT-BTC"], ["100.000 đồng", "TT 64/2025/TT-BTC", "TT 117/2026"]),
    ],
    indirect=["today"],
)
def test_fee_question_answers_fee_with_source_and_next_moves(
    server: DatedServer, today: date, shown: list[str], not_shown: list[str]
) -> None:
    replies = server.on(today).say(f"fee-{today:%Y%m%d}", "làm hộ chiếu hết bao nhiêu tiền")
    text = server.texts(replies)
    assert "Lệ phí" in text and all(t in text for t in shown), text
    assert not any(t in text for t in not_shown), text
    assert "Nguồn:" in text and "nguồn được kiểm tra ngày" in text and "dichvucong" in text
    assert {"Xem giấy tờ cần chuẩn bị", "Hướng dẫn làm online từng bước", "Gặp cán bộ"} <= set(server.buttons(replies))


#: What the bot says when it did not understand, or when the question is out of scope: both name "căn cước" too.
NOT_UNDERSTOOD = ("chưa hiểu ý bạn", "nằm ngoài phạm vi")


def test_unaccented_teencode_finds_the_procedure(server: LiveServer) -> None:
    replies = server.say("teen-1", "mat cccd roi lam lai the nao ad")
    text = server.texts(replies)
    assert "căn cước" in text.lower() and not any(t in text for t in NOT_UNDERSTOOD), text
    assert [(r.get("custom") or {}).get("procedure") for r in replies if (r.get("custom") or {}).get("procedure")][:1] == [
        "the-can-cuoc"
    ], replies


def walk_to_first_step(server: LiveServer, sender: str) -> list[dict]:
    offered = server.say(sender, "tôi muốn làm hộ chiếu")
    assert "Hướng dẫn làm online từng bước" in server.buttons(offered)
    server.say(sender, server.payload("start_guide", procedure="ho-chieu"))
    server.say(sender, server.payload("choose_option", option="yes"))
    server.say(sender, server.payload("choose_option", option="lost"))
    return server.say(sender, server.payload("choose_option", option="self"))


def test_walkthrough_personalised_checklist_then_steps(server: LiveServer) -> None:
    replies = walk_to_first_step(server, "walk-1")
    text = server.texts(replies)
    assert "Bạn KHÔNG cần mang/nộp" in text
    assert steps_in(replies)[-1][0] == 1
    total = steps_in(replies)[-1][1]
    assert {"Tiếp theo", "Quay lại", "Nhắc lại", "Gặp cán bộ"} <= set(server.buttons(replies))
    assert steps_in(server.say("walk-1", "tiếp")) == [(2, total)]
    assert steps_in(server.say("walk-1", "quay lại")) == [(1, total)]
    assert steps_in(server.say("walk-1", "nói lại")) == [(1, total)]


def test_walkthrough_ends_with_result_and_rating(server: LiveServer) -> None:
    replies = walk_to_first_step(server, "walk-2")
    total = steps_in(replies)[-1][1]
    for _ in range(total - 1):
        replies = server.say("walk-2", "/next_step")
    assert steps_in(replies) == [(total, total)]
    done = server.say("walk-2", "/next_step")
    assert "Kết quả" in server.texts(done) and "Theo dõi hồ sơ" in server.texts(done)
    assert server.buttons(done)[-5:] == ["1", "2", "3", "4", "5"]
    thanks = server.say("walk-2", server.payload("rate", rating="5"))
    assert "5/5" in server.texts(thanks) and "Góp ý thêm" in server.buttons(thanks)
    asked = server.say("walk-2", "/give_feedback")
    assert "Bỏ qua" in server.buttons(asked)
    assert "Cảm ơn góp ý" in server.texts(server.say("walk-2", "bước chụp ảnh nên có hình minh họa"))
    database = server.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:
        rows = db.execute("select procedure_key, rating, comment from feedback where sender_id = 'rest:walk-2'").fetchall()
    assert rows == [("ho-chieu", 5, "bước chụp ảnh nên có hình minh họa")]


def test_walkthrough_survives_a_restart(server: LiveServer) -> None:
    walk_to_first_step(server, "walk-3")
    total = steps_in(server.say("walk-3", "tiếp"))[0][1]
    server.stop()
    server.start()
    assert steps_in(server.say("walk-3", "tiếp")) == [(3, total)]
    progress = server.say("walk-3", "mình đang làm đến đâu rồi?")
    assert steps_in(progress) == [(3, total)]


def test_handoff_records_step_and_answers_then_bot_is_silent(server: LiveServer) -> None:
    walk_to_first_step(server, "human-1")
    server.say("human-1", "tiếp")
    replies = server.say("human-1", "cho tôi gặp cán bộ")
    assert "cán bộ" in server.texts(replies)
    assert server.say("human-1", "tiếp") == []
    assert server.say("human-1", "alo còn ai không") == []
    database = server.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:
        row = db.execute(
            "select channel, procedure_key, step, answers, status from handoffs where sender_id = ?", ("rest:human-1",)
        ).fetchone()
    assert row is not None
    channel, procedure, step, answers, status = row
    assert (channel, procedure, step, status) == ("rest", "ho-chieu", 2, "open")
    assert '"situation": "lost"' in answers


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("", "chưa nhập nội dung"),
        ("   ", "chưa nhập nội dung"),
        ("😀😀😀", "chỉ đọc được chữ"),
        ("làm căn cước " * 1000, None),
        ("What is the weather today?", "ngoài phạm vi"),
    ],
    ids=["empty", "blank", "emoji", "huge", "english"],
)
def test_bad_input_gets_a_polite_reply(server: LiveServer, message: str, expected: str | None) -> None:
    replies = server.say("bad-1", message)
    assert replies, "always an answer"
    if expected:
        assert expected in server.texts(replies)


@pytest.mark.parametrize(
    "body",
    [{"message": "hi"}, {"sender": "x", "message": 123}, {"sender": "", "message": "hi"}, ["not", "an", "object"]],
)
def test_malformed_rest_body_is_a_4xx(server: LiveServer, body: object) -> None:
    assert 400 <= server.post("/webhooks/rest/webhook", body).status_code < 500


def test_oversized_message_is_a_4xx_with_a_reason(server: LiveServer) -> None:
    response = server.post("/webhooks/rest/webhook", {"sender": "big-1", "message": "a" * 20001})
    assert response.status_code == 422
    assert "không hợp lệ" in response.json()["detail"]


def test_binary_body_is_a_4xx(server: LiveServer) -> None:
    import httpx

    response = httpx.post(
        f"{server.url}/webhooks/rest/webhook", content=b"\xff\xfe\x00\x01", headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize("text", ["làm hộ chiếu hết bao nhiêu tiền", "xin chào", "", "😀", "lam lai cccd"])
def test_model_parse_has_the_design_fields(server: LiveServer, text: str) -> None:
    body = server.post("/model/parse", {"text": text}).json()
    assert {"text", "intent", "intent_ranking", "entities", "procedure", "procedure_ranking", "aspect"} <= set(body)


def test_model_parse_ranks_procedure_and_aspect(server: LiveServer) -> None:
    body = server.post("/model/parse", {"text": "lam ho chieu het bao nhieu tien"}).json()
    assert body["intent"]["name"] == "ask_procedure"
    assert body["procedure"]["key"] == "ho-chieu"
    assert len(body["procedure_ranking"]) >= 3
    assert body["aspect"] == "fee"


def test_action_endpoint_is_not_exposed_when_actions_run_in_process(server: LiveServer) -> None:
    import zlib

    import httpx

    call = {"next_action": "action_list_services", "sender_id": "x", "tracker": {"sender_id": "x"}, "domain": {}}
    assert server.post("/webhook", call).status_code == 404
    assert httpx.get(f"{server.url}/actions").status_code == 404
    # the actions themselves still answer, in process
    assert "26." in server.texts(server.say("actions-1", "/list_services"))
    bomb = zlib.compress(b"\0" * 1_000_000_000, 9)  # 1 MB that inflates to 1 GB
    started = time.perf_counter()
    response = httpx.post(
        f"{server.url}/webhooks/rest/webhook", content=bomb, headers={"Content-Encoding": "deflate"}, timeout=30
    )
    assert 400 <= response.status_code < 500 and time.perf_counter() - started < 1.0


def test_cli_parse_one_json_line_per_input_line(server: LiveServer) -> None:
    import json

    lines = ["làm hộ chiếu", "", "😀", "xin chao"]
    result = server.cli("parse", stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    parsed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [p["text"] for p in parsed] == lines
    assert parsed[0]["procedure"]["key"] == "ho-chieu"
    assert all("procedure_ranking" in p and "aspect" in p for p in parsed)


def test_demo_page_and_widget(server: LiveServer) -> None:
    import httpx

    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and '<script src="/widget.js"' in page.text
    widget = httpx.get(server.url + "/widget.js")
    assert widget.status_code == 200 and "/webhooks/web/webhook" in widget.text


# The widget in a real browser, on the demo page and on a portal of another origin: tests/test_widget.py.


# --- Zalo and Messenger: a citizen's message through the real engine, the answer to the platform's API -----

FEE_QUESTION = "làm hộ chiếu hết bao nhiêu tiền"
#: The fee's legal basis, on whatever day the server runs (amounts change with it: the date tests above).
FEE_BASIS = re.compile(r"TT \d+/20\d\d/TT-BTC")


def rendered(replies: list[dict[str, Any]], render: Callable[[Reply], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The platform messages ``render`` makes of REST replies: what the platform must receive for the same answer."""
    return [m for r in replies for m in render(Reply(recipient_id="x", text=r.get("text"), buttons=r.get("buttons") or []))]


def received(platform: FakePlatform, count: int, *, within: float = 60.0) -> list[dict[str, Any]]:
    """The requests the platform received, once ``count`` are in (the server answers in the background)."""
    deadline = time.monotonic() + within
    while len(platform.requests) < count:
        assert time.monotonic() < deadline, f"{len(platform.requests)} of {count} messages reached the platform"
        time.sleep(0.1)
    time.sleep(1.0)  # a second answer (a forged or repeated event let through) would be here by now
    return list(platform.requests)


def zalo_turn(server: LiveServer, zalo_api: FakePlatform, text: str, twin: str) -> list[dict[str, Any]]:
    """The citizen writes ``text`` on Zalo; the messages Zalo's API got, checked against a REST twin's answer."""
    expected = rendered(server.say(twin, text), zalo_messages)
    zalo_api.requests.clear()
    raw = zalo_tests.event(text, msg_id=f"e2e-{uuid.uuid4().hex}")
    url = f"{server.url}/webhooks/zalo/webhook"
    assert httpx.post(url, content=raw, headers=zalo_tests.signed(raw, secret="guessed"), timeout=30).status_code == 403
    assert httpx.post(url, content=raw, headers=zalo_tests.signed(raw), timeout=30).json() == {"status": "ok"}
    sent = received(zalo_api, len(expected))
    assert httpx.post(url, content=raw, headers=zalo_tests.signed(raw), timeout=30).json() == {"status": "duplicate"}
    assert [r["json"]["message"] for r in sent] == expected
    assert {(r["path"], r["headers"]["access_token"], r["json"]["recipient"]["user_id"]) for r in sent} == {
        ("/v3.0/oa/message/cs", zalo_tests.ACCESS_TOKEN, zalo_tests.USER)
    }
    return expected


def test_zalo_citizen_gets_the_real_fee_answer_then_presses_a_button(server: LiveServer, zalo_api: FakePlatform) -> None:
    messages = zalo_turn(server, zalo_api, FEE_QUESTION, "zalo-twin-1")
    text = "\n".join(m["text"] for m in messages)
    assert "Lệ phí" in text and "hộ chiếu" in text and FEE_BASIS.search(text) and "Nguồn:" in text, text
    buttons = {b["title"]: b for m in messages for b in m.get("attachment", {}).get("payload", {}).get("buttons", [])}
    guide = buttons["Hướng dẫn làm online từng bước"]
    assert guide["type"] == "oa.query.hide" and guide["payload"].startswith("/start_guide")
    # Zalo sends a pressed oa.query button back as the citizen's text: the walkthrough starts
    started = zalo_turn(server, zalo_api, guide["payload"], "zalo-twin-1")
    assert "VNeID" in "\n".join(m["text"] for m in started)


def messenger_turn(server: LiveServer, graph_api: FakePlatform, twin: str, text: str, **message: Any) -> list[dict[str, Any]]:
    """The citizen writes ``text`` (or presses a quick reply) on Messenger; the messages the Send API got."""
    expected = rendered(server.say(twin, message.get("quick_reply", {}).get("payload", text)), messenger_messages)
    graph_api.requests.clear()
    raw = messenger_tests.delivery(messenger_tests.text_event(text, mid=f"m_{uuid.uuid4().hex}", **message))
    url = f"{server.url}/webhooks/facebook/webhook"
    assert httpx.post(url, content=raw, headers=messenger_tests.signed(raw, "guessed"), timeout=30).status_code == 403
    assert httpx.post(url, content=raw, headers=messenger_tests.signed(raw), timeout=30).json() == {"status": "ok"}
    sent = received(graph_api, len(expected))
    assert [r["json"]["message"] for r in sent] == expected
    assert {(r["path"], r["query"]["access_token"][0], r["json"]["recipient"]["id"]) for r in sent} == {
        ("/v21.0/me/messages", messenger_tests.PAGE_TOKEN, messenger_tests.PSID)
    }
    return expected


def test_messenger_citizen_gets_the_real_fee_answer_then_taps_a_quick_reply(
    server: LiveServer, graph_api: FakePlatform
) -> None:
    params = messenger_tests.verify_params()
    handshake = httpx.get(f"{server.url}/webhooks/facebook/webhook", params=params, timeout=30)
    assert handshake.status_code == 200 and handshake.text == params["hub.challenge"]
    messages = messenger_turn(server, graph_api, "messenger-twin-1", FEE_QUESTION)
    text = "\n".join(m["text"] for m in messages)
    assert "Lệ phí" in text and "hộ chiếu" in text and FEE_BASIS.search(text) and "Nguồn:" in text, text
    quick = {q["title"]: q for m in messages for q in m.get("quick_replies", [])}
    guide = next(q for title, q in quick.items() if title.startswith("Hướng dẫn"))
    started = messenger_turn(server, graph_api, "messenger-twin-1", guide["title"], quick_reply={"payload": guide["payload"]})
    assert "VNeID" in "\n".join(m["text"] for m in started)


def test_analytics_count_the_questions_the_server_stored(server: LiveServer) -> None:
    """The staff's "most asked" table reads the events Rasa stored for a real parse: one more question, one more row."""
    from assistant.analytics import asked_procedures
    from assistant.db.session import make_engine

    def passports() -> tuple[int, int]:
        engine = make_engine(server.database_url)
        try:
            rows, _ = asked_procedures(engine)
        finally:
            engine.dispose()
        return next(((messages, chats) for key, messages, chats in rows if key == "ho-chieu"), (0, 0))

    before = passports()
    server.say(f"asked-{uuid.uuid4().hex[:8]}", FEE_QUESTION)
    assert passports() == (before[0] + 1, before[1] + 1)


def test_server_log_masks_phone_numbers(server: LiveServer, tmp_path: Path) -> None:
    import httpx

    server.say("pii-1", "sđt của em là 0912345678, cccd 001203004567")
    # a search typed with the numbers: the access log line carries the query string, so the text is in the log
    found = httpx.get(f"{server.url}/api/procedures", params={"q": "sđt 0912345678 cccd 001203004567"}, timeout=30)
    assert found.status_code == 200
    time.sleep(0.5)  # the access line is written after the response
    log = server.log.read_text(errors="replace")
    assert "0912345678" not in log and "001203004567" not in log
    assert "091****678" in log and "001******567" in log, log[-2000:]


def test_staff_take_over_reply_and_hand_back(server: LiveServer) -> None:
    import httpx

    # the citizen writes from the web widget: a web conversation, reached only with its token
    token = httpx.post(f"{server.url}/webhooks/web/conversations").json()["token"]
    widget = {"Authorization": f"Bearer {token}"}

    def widget_says(text: str) -> dict:
        response = httpx.post(f"{server.url}/webhooks/web/webhook", json={"message": text}, headers=widget, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    widget_says("tôi muốn đăng ký tạm trú")
    handed = widget_says("cho tôi gặp cán bộ")
    assert "cán bộ" in server.texts(handed["messages"]) and handed["with_staff"] is True
    assert widget_says("alo") == {"messages": [], "with_staff": True}
    env_password = "mat-khau-thu-nghiem"
    assert server.cli("staff", "add", "canbo1").returncode == 2  # no password and no terminal: refused
    import os

    os.environ["ASSISTANT_STAFF_PASSWORD"] = env_password
    try:
        assert server.cli("staff", "add", "canbo1").returncode == 0
    finally:
        del os.environ["ASSISTANT_STAFF_PASSWORD"]
    with httpx.Client(base_url=server.url, follow_redirects=False) as desk:
        assert desk.get("/staff").status_code == 303
        login = staff_login(desk, "canbo1", env_password)
        assert login.status_code == 303
        queue = desk.get("/staff")
        assert queue.status_code == 200 and "tạm trú" in queue.text.lower()
        match = re.search(r"/staff/handoffs/(\d+)", queue.text)
        assert match
        page = desk.get(match.group(0))
        assert "alo" in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        assert (
            desk.post(
                f"{match.group(0)}/reply", data={"text": "Chào bạn, tôi là cán bộ một cửa.", "csrf": csrf}
            ).status_code
            == 303
        )
        assert httpx.get(f"{server.url}/webhooks/web/staff-messages").status_code == 401
        polled = httpx.get(f"{server.url}/webhooks/web/staff-messages", params={"after": 0}, headers=widget).json()
        assert polled["paused"] is True
        assert [m["text"] for m in polled["messages"]] == ["Chào bạn, tôi là cán bộ một cửa."]
        assert desk.post(f"{match.group(0)}/close", data={"csrf": csrf}).status_code == 303
    assert "Xin chào" in server.texts(widget_says("xin chào")["messages"])
