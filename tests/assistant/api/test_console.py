"""Tests of the staff console (assistant/api/routes/console.py) and staff accounts (assistant/staff.py).

The app is built with ``create_app(load_model=False)`` on an SQLite file holding the 26 real records; tests
that need a conversation engine use the real :class:`ConversationEngine` around Rasa's in-memory stores.
"""

import argparse
import asyncio
import logging
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from assistant.api.routes import console
from assistant.catalogue.loader import load_procedures
from assistant.channels.web_auth import new_conversation, token_key
from assistant.db.migrate import upgrade
from assistant.db.models import Feedback, Handoff, StaffUser
from assistant.db.session import make_engine, session_scope
from assistant.errors import AssistantError
from assistant.main import create_app
from assistant.settings import Settings
from assistant.staff import (
    PasswordTooShort,
    SessionSigner,
    add_staff_user,
    authenticate,
    hash_password,
    verify_password,
)
from tests.assistant.channels.fakes import FakePlatform, graph_answer
from tests.staff_login import staff_login

PROCEDURES_DIR = Path(__file__).resolve().parents[3] / "procedures"
USERNAME = "canbo1"
PASSWORD = "mat-khau-an-toan"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """An SQLite file, migrated, with the real procedures and one staff user."""
    url = f"sqlite:///{tmp_path}/console.db"
    engine = make_engine(url)
    upgrade(engine)
    load_procedures(engine, PROCEDURES_DIR)
    engine.dispose()
    add_staff_user(url, USERNAME, PASSWORD)
    return url


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    app = create_app(settings=Settings(database_url=database_url), load_model=False)
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def staff_client(client: TestClient) -> TestClient:
    """A client logged in as USERNAME."""
    response = staff_login(client, USERNAME, PASSWORD)
    assert response.status_code == 303
    return client


def db(client: TestClient) -> Engine:
    return client.app.state.db_engine


def csrf_of(client: TestClient, path: str = "/staff") -> str:
    match = CSRF.search(client.get(path).text)
    assert match, "the page has no anti-forgery token"
    return match.group(1)


def add_handoff(client: TestClient, **fields: Any) -> int:
    values: dict[str, Any] = {
        "sender_id": "web-citizen-1",
        "channel": "rest",
        "procedure_key": "ho-chieu",
        "step": 4,
        "answers": {"situation": "lost", "applicant": "self"},
        "summary": "Thủ tục: ho-chieu; đang ở bước 4; trả lời: situation=lost",
        "last_messages": [
            {"from": "citizen", "text": "tôi bị mất hộ chiếu"},
            {"from": "bot", "text": "Bạn làm hộ chiếu lần đầu hay cấp lại?"},
        ],
        "status": "open",
    }
    values.update(fields)
    with session_scope(db(client)) as session:
        handoff = Handoff(**values)
        session.add(handoff)
        session.flush()
        return int(handoff.id)


def widget_conversation(client: TestClient) -> tuple[str, dict[str, str]]:
    """A web widget conversation: its id and the headers that carry its token (as the widget sends them)."""
    conversation, token = new_conversation(token_key(client.app.state.settings))
    return conversation, {"Authorization": f"Bearer {token}"}


def handoff_row(client: TestClient, handoff_id: int) -> Handoff:
    with session_scope(db(client)) as session:
        return session.get(Handoff, handoff_id)


# --- passwords and sessions ---------------------------------------------------------------------------


def test_staff_password_hash_round_trip() -> None:
    encoded = hash_password("mật khẩu dài")
    assert encoded.startswith("pbkdf2_sha256$")
    assert int(encoded.split("$")[1]) >= 200_000
    assert verify_password("mật khẩu dài", encoded)
    assert not verify_password("mat khau dai", encoded)
    assert hash_password("mật khẩu dài") != encoded  # a new salt every time


@pytest.mark.parametrize("stored", ["", "plain", "md5$1$a$b", "pbkdf2_sha256$x$a$b", "pbkdf2_sha256$1000$!!$??"])
def test_staff_verify_password_malformed_hash_is_false(stored: str) -> None:
    assert verify_password("whatever-password", stored) is False


@pytest.mark.parametrize("password", ["", "1234567", "ngắn"])
def test_staff_add_user_refuses_short_password(tmp_path: Path, password: str) -> None:
    with pytest.raises(PasswordTooShort) as caught:
        add_staff_user(f"sqlite:///{tmp_path}/s.db", "canbo", password)
    assert isinstance(caught.value, AssistantError)


def test_staff_add_user_creates_then_resets(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"  # never migrated: add_staff_user does it
    assert add_staff_user(url, "canbo2", "mat-khau-cu-1") is True
    assert add_staff_user(url, "canbo2", "mat-khau-moi-2") is False
    engine = make_engine(url)
    try:
        assert authenticate(engine, "canbo2", "mat-khau-cu-1") is None
        user = authenticate(engine, "canbo2", "mat-khau-moi-2")
        assert user is not None and user.username == "canbo2"
        assert authenticate(engine, "khong-co", "mat-khau-moi-2") is None
        with session_scope(engine) as session:
            assert len(session.execute(select(StaffUser)).all()) == 1
    finally:
        engine.dispose()


def test_staff_cli_add_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant import cli
    from assistant.settings import get_settings

    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("ASSISTANT_DATABASE_URL", url)
    monkeypatch.setenv("ASSISTANT_STAFF_PASSWORD", "mat-khau-cli-1")
    get_settings.cache_clear()
    try:
        args = cli.build_parser().parse_args(["staff", "add", "canbo3"])
        assert isinstance(args, argparse.Namespace)
        assert args.func(args) == 0
    finally:
        get_settings.cache_clear()
    assert "canbo3" in capsys.readouterr().out
    engine = make_engine(url)
    try:
        assert authenticate(engine, "canbo3", "mat-khau-cli-1") is not None
    finally:
        engine.dispose()


def test_staff_session_signer_refuses_tampered_and_expired_tokens() -> None:
    signer = SessionSigner(b"k" * 32)
    token = signer.sign("canbo1", fingerprint="abc", now=1000.0)
    assert signer.unsign(token, max_age=60, now=1030.0).username == "canbo1"
    assert signer.unsign(token, max_age=60, now=1100.0) is None
    payload, mac = token.split(".")
    assert signer.unsign(payload + "." + mac[:-2] + "AA", max_age=60, now=1030.0) is None
    assert signer.unsign("garbage", max_age=60, now=1030.0) is None
    assert SessionSigner(b"x" * 32).unsign(token, max_age=60, now=1030.0) is None
    assert signer.check_csrf(token, signer.csrf_token(token))
    assert not signer.check_csrf(token, "forged")


# --- log-in -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/staff", "/staff/analytics", "/staff/handoffs/1", "/staff/checklist?procedure=ho-chieu"]
)
def test_console_login_required(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/staff/login")


def test_console_login_required_json_client_gets_401(client: TestClient) -> None:
    assert client.get("/staff", headers={"Accept": "application/json"}).status_code == 401


@pytest.mark.parametrize(("username", "password"), [(USERNAME, "sai-mat-khau"), ("khong-ton-tai", PASSWORD)])
def test_console_login_wrong_credentials_401(client: TestClient, username: str, password: str) -> None:
    response = staff_login(client, username, password)
    assert response.status_code == 401
    assert "Tên đăng nhập hoặc mật khẩu không đúng." in response.text
    assert console.SESSION_COOKIE not in response.cookies
    assert client.get("/staff").status_code == 303


def test_console_login_throttled_after_repeated_failures(client: TestClient) -> None:
    for _ in range(5):
        assert staff_login(client, USERNAME, "sai-mat-khau").status_code == 401
    assert staff_login(client, USERNAME, PASSWORD).status_code == 429


def test_console_login_works_and_logout_ends_session(client: TestClient) -> None:
    page = client.get("/staff/login")
    assert page.status_code == 200 and 'name="password"' in page.text
    response = staff_login(client, USERNAME, PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/staff"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/staff" in cookie
    queue = client.get("/staff")
    assert queue.status_code == 200
    assert "Hàng chờ" in queue.text and USERNAME in queue.text
    assert queue.headers["cache-control"] == "no-store"
    logout = client.post("/staff/logout", data={"csrf": csrf_of(client)})
    assert logout.status_code == 303
    client.cookies.clear()  # httpx keeps a deleted cookie per path; the server has told it to drop it
    assert client.get("/staff").status_code == 303


def test_console_login_redirects_to_next_only_within_console(client: TestClient) -> None:
    response = staff_login(client, USERNAME, PASSWORD, next_url="/staff/analytics")
    assert response.headers["location"] == "/staff/analytics"
    for target in ("https://evil.example/staff", "//evil.example", "/staff//evil.example"):
        response = staff_login(client, USERNAME, PASSWORD, next_url=target)
        assert response.headers["location"] == "/staff"


def test_console_session_ends_when_password_is_reset(staff_client: TestClient, database_url: str) -> None:
    assert staff_client.get("/staff").status_code == 200
    add_staff_user(database_url, USERNAME, "mat-khau-moi-9")
    assert staff_client.get("/staff").status_code == 303


def test_console_forged_cookie_is_refused(client: TestClient) -> None:
    client.cookies.set(console.SESSION_COOKIE, "eyJ1IjoiY2FuYm8xIn0.AAAA", path="/staff")
    assert client.get("/staff").status_code == 303


# --- queue and hand-offs --------------------------------------------------------------------------------


def test_console_queue_shows_handoff(staff_client: TestClient) -> None:
    handoff_id = add_handoff(staff_client)
    closed_id = add_handoff(staff_client, sender_id="web-2", status="closed", summary="đã xong")
    page = staff_client.get("/staff")
    assert page.status_code == 200
    assert f"/staff/handoffs/{handoff_id}" in page.text
    assert "Cấp hộ chiếu phổ thông ở trong nước" in page.text
    assert "situation=lost" in page.text
    assert "Đang chờ" in page.text and "Web" in page.text
    assert page.text.index(f"#{handoff_id}<") < page.text.index(f"#{closed_id}<")
    assert "/staff/analytics" in page.text and "/staff/checklist" in page.text


def test_console_escapes_citizen_text(staff_client: TestClient) -> None:
    add_handoff(staff_client, summary="<script>alert(1)</script>")
    page = staff_client.get("/staff").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_console_handoff_page_unknown_id_404(staff_client: TestClient) -> None:
    assert staff_client.get("/staff/handoffs/999").status_code == 404
    assert staff_client.post("/staff/handoffs/999/close", data={"csrf": csrf_of(staff_client)}).status_code == 404


def test_console_handoff_page_without_engine_shows_stored_messages(staff_client: TestClient) -> None:
    handoff_id = add_handoff(staff_client)
    page = staff_client.get(f"/staff/handoffs/{handoff_id}")
    assert page.status_code == 200
    assert "tôi bị mất hộ chiếu" in page.text
    assert "Bị mất, hỏng" in page.text  # the answer in words
    assert "Bạn làm hộ chiếu lần đầu hay cấp lại?" in page.text
    assert "situation=lost" in page.text  # a link to the checklist with the answers


def test_console_claim_sets_status_and_staff(staff_client: TestClient) -> None:
    handoff_id = add_handoff(staff_client)
    response = staff_client.post(f"/staff/handoffs/{handoff_id}/claim", data={"csrf": csrf_of(staff_client)})
    assert response.status_code == 303
    row = handoff_row(staff_client, handoff_id)
    assert (row.status, row.assigned_to) == ("claimed", USERNAME)


def test_console_forms_need_the_session_token(staff_client: TestClient) -> None:
    handoff_id = add_handoff(staff_client)
    for action in ("claim", "close"):
        assert staff_client.post(f"/staff/handoffs/{handoff_id}/{action}", data={"csrf": "forged"}).status_code == 403
    assert handoff_row(staff_client, handoff_id).status == "open"


def test_console_close_without_engine(staff_client: TestClient) -> None:
    assert staff_client.app.state.engine is None
    handoff_id = add_handoff(staff_client)
    response = staff_client.post(f"/staff/handoffs/{handoff_id}/close", data={"csrf": csrf_of(staff_client)})
    assert response.status_code == 303 and response.headers["location"] == "/staff"
    row = handoff_row(staff_client, handoff_id)
    assert (row.status, row.assigned_to) == ("closed", USERNAME)


def test_console_reply_without_engine_503(staff_client: TestClient) -> None:
    handoff_id = add_handoff(staff_client)
    response = staff_client.post(
        f"/staff/handoffs/{handoff_id}/reply", data={"csrf": csrf_of(staff_client), "text": "Chào bạn"}
    )
    assert response.status_code == 503


# --- with a conversation engine (Rasa's in-memory stores) ---------------------------------------------


class InMemoryAgent:
    """The parts of a Rasa agent the console uses, with Rasa's own in-memory stores."""

    def __init__(self) -> None:
        from rasa.core.lock_store import InMemoryLockStore
        from rasa.core.tracker_store import InMemoryTrackerStore
        from rasa.shared.core.domain import Domain

        self.tracker_store = InMemoryTrackerStore(Domain.empty())
        self.lock_store = InMemoryLockStore()

    def is_ready(self) -> bool:
        return True


@pytest.fixture
def engine_client(staff_client: TestClient) -> TestClient:
    from assistant.engine import ConversationEngine

    staff_client.app.state.engine = ConversationEngine(InMemoryAgent())
    return staff_client


async def paused_conversation(engine: Any, sender_id: str) -> None:
    from rasa.shared.core.events import BotUttered, ConversationPaused, UserUttered

    tracker = await engine.tracker(sender_id)
    for event in (UserUttered("gặp cán bộ"), BotUttered("Mình đã chuyển cho cán bộ."), ConversationPaused()):
        tracker.update(event)
    await engine.agent.tracker_store.save(tracker)


def test_console_reply_reaches_the_widget_and_close_resumes(engine_client: TestClient) -> None:
    import asyncio

    engine = engine_client.app.state.engine
    citizen, widget = widget_conversation(engine_client)
    asyncio.run(paused_conversation(engine, citizen))
    handoff_id = add_handoff(engine_client, sender_id=citizen, channel="web")
    before = time.time() - 1

    page = engine_client.get(f"/staff/handoffs/{handoff_id}")
    assert "gặp cán bộ" in page.text and "Mình đã chuyển cho cán bộ." in page.text
    token = CSRF.search(page.text).group(1)

    too_long = engine_client.post(
        f"/staff/handoffs/{handoff_id}/reply", data={"csrf": token, "text": "x" * (console.MAX_REPLY_CHARS + 1)}
    )
    assert too_long.status_code == 422
    sent = engine_client.post(
        f"/staff/handoffs/{handoff_id}/reply", data={"csrf": token, "text": "Chào bạn, <b>tôi</b> đây"}
    )
    assert sent.status_code == 303
    assert handoff_row(engine_client, handoff_id).status == "claimed"

    polled = engine_client.get("/webhooks/web/staff-messages", params={"after": before}, headers=widget)
    body = polled.json()
    assert body["paused"] is True
    assert [m["text"] for m in body["messages"]] == ["Chào bạn, <b>tôi</b> đây"]
    later = engine_client.get(
        "/webhooks/web/staff-messages", params={"after": body["messages"][0]["timestamp"]}, headers=widget
    )
    assert later.json()["messages"] == []

    page = engine_client.get(f"/staff/handoffs/{handoff_id}").text
    assert f"Cán bộ {USERNAME}" in page and "Chào bạn, &lt;b&gt;tôi&lt;/b&gt; đây" in page

    closed = engine_client.post(f"/staff/handoffs/{handoff_id}/close", data={"csrf": token})
    assert closed.status_code == 303
    tracker = asyncio.run(engine.tracker(citizen))
    assert not tracker.is_paused()
    assert engine_client.get("/webhooks/web/staff-messages", headers=widget).json()["paused"] is False


# --- staff replies to Zalo and Messenger citizens (fake platforms on 127.0.0.1) ------------------------

ZALO_USER = "2468458835296117922"
ZALO_TOKEN = "zalo-access-token-staff-123"
PSID = "6543210987654321"
PAGE_TOKEN = "EAAG-page-token-staff-456"
NOT_DELIVERED = "chưa gửi tới người dân"
#: Staff replies go through the outbox: two tries, quickly, per round; the background worker is kept out of the way.
RETRIES: dict[str, Any] = {"outbox_attempts": 2, "outbox_retry_seconds": 0.01, "worker_interval_seconds": 3600}


def zalo_answer(status: int) -> dict[str, Any]:
    return {"error": 0, "message": "Success", "data": {"message_id": "m"}} if status == 200 else {"error": -32}


def zalo_config(api_base: str, *, configured: bool = True) -> dict[str, Any]:
    settings = {"zalo_app_id": "4305567891234", "zalo_access_token": ZALO_TOKEN, "zalo_api_base": api_base}
    if configured:
        settings["zalo_oa_secret"] = "oa-secret-xyz"
    return settings


def messenger_config(api_base: str, *, configured: bool = True) -> dict[str, Any]:
    settings = {
        "messenger_verify_token": "verify-me",
        "messenger_page_token": PAGE_TOKEN,
        "messenger_api_base": api_base,
    }
    if configured:
        settings["messenger_app_secret"] = "app-secret-abc"
    return settings


#: channel, citizen id, the settings for a platform URL, the fake platform's answer and URL prefix.
PLATFORMS = {
    "zalo": ("zalo", ZALO_USER, zalo_config, zalo_answer, ""),
    "messenger": ("messenger", PSID, messenger_config, graph_answer(PSID), "/v21.0"),
}


@contextmanager
def platform_console(database_url: str, **settings: Any) -> Iterator[TestClient]:
    """A logged-in console with an in-memory conversation engine and the given channel settings."""
    from assistant.engine import ConversationEngine

    app = create_app(settings=Settings(database_url=database_url, **settings), load_model=False)
    with TestClient(app, follow_redirects=False) as test_client:
        assert staff_login(test_client, USERNAME, PASSWORD).status_code == 303
        test_client.app.state.engine = ConversationEngine(InMemoryAgent())
        yield test_client


def platform_handoff(test_client: TestClient, channel: str, user: str) -> int:
    asyncio.run(paused_conversation(test_client.app.state.engine, user))
    return add_handoff(test_client, sender_id=user, channel=channel)


def reply_in(test_client: TestClient, handoff_id: int, text: str) -> Any:
    token = csrf_of(test_client, f"/staff/handoffs/{handoff_id}")
    return test_client.post(f"/staff/handoffs/{handoff_id}/reply", data={"csrf": token, "text": text})


def sent_by_platform(name: str, request: dict[str, Any]) -> tuple[str, str, str]:
    """(recipient, text, token) of one request the fake platform received."""
    body = request["json"]
    if name == "zalo":
        return body["recipient"]["user_id"], body["message"]["text"], request["headers"]["access_token"]
    return body["recipient"]["id"], body["message"]["text"], request["query"]["access_token"][0]


@pytest.mark.parametrize("name", ["zalo", "messenger"])
def test_console_reply_reaches_platform_citizen(database_url: str, name: str) -> None:
    channel, user, config, answer, prefix = PLATFORMS[name]
    with (
        FakePlatform(answer=answer, prefix=prefix) as platform,
        platform_console(database_url, **config(platform.url)) as test_client,
    ):
        handoff_id = platform_handoff(test_client, channel, user)
        page = test_client.get(f"/staff/handoffs/{handoff_id}").text
        assert "chưa được cấu hình" not in page and "có chữ “Cán bộ:” ở đầu" in page

        sent = reply_in(test_client, handoff_id, "Chào bạn, hồ sơ của bạn đã được tiếp nhận.")
        assert sent.status_code == 303 and sent.headers["location"] == f"/staff/handoffs/{handoff_id}#tin-nhan"

        [request] = platform.requests
        token = ZALO_TOKEN if name == "zalo" else PAGE_TOKEN
        assert sent_by_platform(name, request) == (user, "Cán bộ: Chào bạn, hồ sơ của bạn đã được tiếp nhận.", token)
        page = test_client.get(f"/staff/handoffs/{handoff_id}").text
        assert "Chào bạn, hồ sơ của bạn đã được tiếp nhận." in page and NOT_DELIVERED not in page
        assert handoff_row(test_client, handoff_id).status == "claimed"


@pytest.mark.parametrize("name", ["zalo", "messenger"])
def test_console_reply_channel_off_is_stored_not_delivered(database_url: str, name: str) -> None:
    channel, user, config, answer, prefix = PLATFORMS[name]
    with (
        FakePlatform(answer=answer, prefix=prefix) as platform,
        platform_console(
            database_url,
            **config(platform.url, configured=False),  # one secret missing: the channel is off
        ) as test_client,
    ):
        handoff_id = platform_handoff(test_client, channel, user)
        page = test_client.get(f"/staff/handoffs/{handoff_id}").text
        assert "chưa được cấu hình trên máy chủ" in page  # told before sending

        sent = reply_in(test_client, handoff_id, "Chào bạn, cán bộ đây.")
        assert sent.status_code == 503
        assert "Chưa gửi được tin nhắn tới người dân" in sent.text
        assert "chưa được cấu hình trên máy chủ" in sent.text and "đã được lưu" in sent.text
        assert f"/staff/handoffs/{handoff_id}#tin-nhan" in sent.text
        assert platform.requests == []

        page = test_client.get(f"/staff/handoffs/{handoff_id}").text
        assert "Chào bạn, cán bộ đây." in page and NOT_DELIVERED in page
        tracker = asyncio.run(test_client.app.state.engine.tracker(user))
        staff_events = [e for e in tracker.events if (getattr(e, "metadata", None) or {}).get("from_staff")]
        assert [(e.text, e.metadata["delivered"]) for e in staff_events] == [("Chào bạn, cán bộ đây.", False)]


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("name", "failure"),
    [
        ("zalo", "error_code"),  # HTTP 200 with a Zalo error code
        ("zalo", "http_500"),
        ("zalo", "timeout"),
        ("messenger", "http_400"),
        ("messenger", "unreachable"),
    ],
)
def test_console_reply_platform_failure_tells_officer(
    database_url: str, name: str, failure: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    channel, user, config, answer, prefix = PLATFORMS[name]
    if failure == "error_code":
        answer = lambda _status: {"error": -213, "message": "User has not interacted with OA"}  # noqa: E731
    elif failure == "timeout":
        monkeypatch.setattr("assistant.outbox.SEND_TIMEOUT_SECONDS", 0.2)  # the outbox's sends
        answer = lambda status: (time.sleep(1), zalo_answer(status))[1]  # noqa: E731
    with FakePlatform(answer=answer, prefix=prefix) as platform:
        platform.status = {"http_500": 500, "http_400": 400}.get(failure, 200)
        api_base = f"http://127.0.0.1:{unused_port()}" if failure == "unreachable" else platform.url
        retried = failure in ("http_500", "timeout", "unreachable")  # may work later: the outbox sends it again
        with (
            platform_console(database_url, **config(api_base), **RETRIES) as test_client,
            caplog.at_level(logging.DEBUG),
        ):
            handoff_id = platform_handoff(test_client, channel, user)
            sent = reply_in(test_client, handoff_id, "Chào bạn, cán bộ đây.")
            label = "Zalo" if name == "zalo" else "Messenger"
            assert f"Chưa gửi được tin nhắn tới người dân qua {label}" in sent.text
            if retried:
                assert sent.status_code == 202 and "tự động gửi lại" in sent.text
            else:
                assert sent.status_code == 502
                assert "người dân chưa nhận được" in sent.text and "thử gửi lại" in sent.text
            page = test_client.get(f"/staff/handoffs/{handoff_id}").text
            assert "Chào bạn, cán bộ đây." in page and NOT_DELIVERED in page
    assert len(platform.requests) == (0 if failure == "unreachable" else RETRIES["outbox_attempts"] if retried else 1)
    assert "not delivered via" in caplog.text
    assert ZALO_TOKEN not in caplog.text and PAGE_TOKEN not in caplog.text


@pytest.mark.parametrize("name", ["zalo", "messenger"])
def test_console_reply_platform_failing_then_recovering_is_delivered_once(database_url: str, name: str) -> None:
    from assistant.outbox_worker import OutboxWorker

    channel, user, config, answer, prefix = PLATFORMS[name]
    with FakePlatform(answer=answer, prefix=prefix) as platform:
        platform.status = 503
        with platform_console(database_url, **config(platform.url), **RETRIES) as test_client:
            handoff_id = platform_handoff(test_client, channel, user)
            sent = reply_in(test_client, handoff_id, "Hồ sơ của bạn đã đủ.")
            assert sent.status_code == 202 and "tự động gửi lại" in sent.text
            assert len(platform.requests) == RETRIES["outbox_attempts"]  # retried with backoff, then kept

            platform.status = 200  # the platform is back
            with session_scope(db(test_client)) as session:  # the kept send is due now
                session.execute(text("update outbox set next_attempt_at = created_at"))
            worker = OutboxWorker(test_client.app)
            test_client.portal.call(worker.run_once)
            test_client.portal.call(worker.run_once)  # nothing left to send: never sent twice
            with session_scope(db(test_client)) as session:
                assert [tuple(r) for r in session.execute(text("select status, sent from outbox"))] == [("done", 1)]
    delivered = platform.requests[RETRIES["outbox_attempts"] :]
    assert [sent_by_platform(name, r)[:2] for r in delivered] == [(user, "Cán bộ: Hồ sơ của bạn đã đủ.")]


def test_console_reply_to_web_citizen_does_not_call_platforms(database_url: str) -> None:
    with (
        FakePlatform(answer=zalo_answer) as platform,
        platform_console(database_url, **zalo_config(platform.url)) as test_client,
    ):
        handoff_id = platform_handoff(test_client, "rest", "web-citizen-9")
        assert reply_in(test_client, handoff_id, "Chào bạn").status_code == 303
        assert platform.requests == []
        assert NOT_DELIVERED not in test_client.get(f"/staff/handoffs/{handoff_id}").text


# --- the citizen's poll -------------------------------------------------------------------------------


def test_staff_messages_paused_until_closed(staff_client: TestClient) -> None:
    citizen, widget = widget_conversation(staff_client)
    handoff_id = add_handoff(staff_client, sender_id=citizen, channel="web")
    body = staff_client.get("/webhooks/web/staff-messages", params={"after": 0}, headers=widget).json()
    assert body == {"paused": True, "messages": []}
    staff_client.post(f"/staff/handoffs/{handoff_id}/close", data={"csrf": csrf_of(staff_client)})
    body = staff_client.get("/webhooks/web/staff-messages", params={"after": 0}, headers=widget).json()
    assert body == {"paused": False, "messages": []}


def test_staff_messages_need_the_widget_token_and_valid_input(client: TestClient) -> None:
    citizen, widget = widget_conversation(client)
    add_handoff(client, sender_id=citizen, channel="web")
    assert client.get("/webhooks/web/staff-messages", headers=widget).json()["paused"] is True
    _, stranger = widget_conversation(client)
    assert client.get("/webhooks/web/staff-messages", headers=stranger).json() == {"paused": False, "messages": []}
    assert client.get("/webhooks/web/staff-messages").status_code == 401
    assert client.get("/webhooks/web/staff-messages", headers={"Authorization": f"Bearer {citizen}"}).status_code == 401
    assert client.get("/webhooks/rest/staff-messages", params={"sender": citizen}).status_code in (404, 405)
    assert client.get("/webhooks/web/staff-messages", params={"after": "nan-x"}, headers=widget).status_code == 422


def test_staff_messages_without_engine_read_rasa_events(staff_client: TestClient, database_url: str, save_in_rasa: Any) -> None:
    from rasa.shared.core.events import BotUttered

    citizen, widget = widget_conversation(staff_client)
    add_handoff(staff_client, sender_id=citizen, channel="web")
    save_in_rasa(
        database_url,
        citizen,
        [BotUttered("bot nói", timestamp=100.0), BotUttered("Cán bộ đây", metadata={"from_staff": USERNAME}, timestamp=200.0)],
    )
    save_in_rasa(database_url, "web:other", [BotUttered("không phải", metadata={"from_staff": "x"}, timestamp=300.0)])
    body = staff_client.get("/webhooks/web/staff-messages", params={"after": 150}, headers=widget).json()
    assert body == {"paused": True, "messages": [{"text": "Cán bộ đây", "timestamp": 200.0}]}


# --- checklist ----------------------------------------------------------------------------------------


def test_console_checklist_personalised_for_passport(staff_client: TestClient) -> None:
    page = staff_client.get(
        "/staff/checklist", params={"procedure": "ho-chieu", "situation": "lost", "applicant": "self"}
    )
    assert page.status_code == 200
    html = page.text
    assert "Cấp hộ chiếu phổ thông ở trong nước" in html and "1.001456" in html
    assert "không cần" in html and "Sổ hộ khẩu, sổ tạm trú" in html
    assert "NĐ 104/2022/NĐ-CP" in html  # the reason it is not needed
    assert "200.000 đồng" in html and "31/12/2026" in html and "TT 64/2025/TT-BTC" in html
    assert "Cấp hộ chiếu mới (mức giảm" not in html  # the first-issue fee does not apply
    assert "Chữ ký trên tờ khai của cha, mẹ" not in html  # only for children
    assert "Nộp lệ phí trực tuyến" in html  # the online steps
    assert "15/07/2026" in html and "https://dichvucong.bocongan.gov.vn/" in html
    assert "@media print" in html
    assert 'value="lost" selected' in html


def test_console_checklist_unconfirmed_fee_carries_caution(staff_client: TestClient) -> None:
    html = staff_client.get("/staff/checklist", params={"procedure": "ho-chieu", "situation": "expired"}).text
    assert "thông tin tham khảo" in html
    assert "chưa trả lời: Hộ chiếu này làm cho ai?" in html


def test_console_checklist_form_and_unknown_procedure(staff_client: TestClient) -> None:
    page = staff_client.get("/staff/checklist")
    assert page.status_code == 200 and 'value="ho-chieu"' in page.text
    assert staff_client.get("/staff/checklist", params={"procedure": "khong-co"}).status_code == 404
    ignored = staff_client.get("/staff/checklist", params={"procedure": "ho-chieu", "situation": "<x>"})
    assert ignored.status_code == 200 and "&lt;x&gt;" not in ignored.text and "<x>" not in ignored.text


# --- analytics ----------------------------------------------------------------------------------------


def test_console_analytics_empty(staff_client: TestClient) -> None:
    page = staff_client.get("/staff/analytics")
    assert page.status_code == 200
    assert "Thống kê" in page.text and "Chưa có dữ liệu." in page.text


def test_console_analytics_counts(staff_client: TestClient, database_url: str, save_in_rasa: Any) -> None:
    from rasa.shared.core.events import UserUttered

    add_handoff(staff_client)
    add_handoff(staff_client, sender_id="web-2", status="closed")
    with session_scope(db(staff_client)) as session:
        session.add_all(
            [
                Feedback(sender_id="a", channel="rest", procedure_key="ho-chieu", rating=5),
                Feedback(sender_id="b", channel="rest", procedure_key="ho-chieu", rating=4),
            ]
        )
    asked = {"intent": {"name": "ask_procedure", "confidence": 0.9}, "procedure": {"key": "the-can-cuoc", "confidence": 0.9}}
    said = [UserUttered("làm cccd", parse_data=asked, timestamp=1.0), UserUttered("cccd", parse_data=asked, timestamp=2.0)]
    save_in_rasa(database_url, "a", said)
    greeting = {"intent": {"name": "greet", "confidence": 1.0}, "procedure": None}
    save_in_rasa(database_url, "b", [UserUttered("chào", parse_data=greeting, timestamp=3.0), UserUttered(timestamp=4.0)])
    html = staff_client.get("/staff/analytics").text
    assert "4,5/5" in html
    assert "Cấp hộ chiếu phổ thông ở trong nước" in html
    assert re.search(r"Cấp, cấp đổi, cấp lại thẻ căn cước</td><td class=\"num\">2</td><td class=\"num\">1</td>", html)
    assert "Tính trên 4 tin nhắn" in html


@pytest.mark.parametrize("today", [date(2027, 1, 2)], indirect=True)
def test_console_checklist_after_the_reduction_ended(staff_client: TestClient, today: date) -> None:
    html = staff_client.get("/staff/checklist", params={"procedure": "ho-chieu", "situation": "lost", "applicant": "self"}).text
    assert "200.000 đồng" not in html and "TT 28/2026/TT-BTC" in html


# --- the log-in form's anti-forgery token ------------------------------------------------------------


def test_console_login_form_carries_a_token_bound_to_its_cookie(client: TestClient) -> None:
    page = client.get("/staff/login")
    assert 'name="login_csrf"' in page.text
    cookie = page.headers["set-cookie"].lower()
    assert "assistant_login=" in cookie and "httponly" in cookie and "samesite=strict" in cookie and "path=/staff/login" in cookie


@pytest.mark.parametrize("forgery", ["no field", "no cookie", "another browser's field", "a changed field"])
def test_console_login_without_its_token_is_refused_before_the_password(
    client: TestClient, database_url: str, forgery: str
) -> None:
    from tests.staff_login import login_token

    token = login_token(client)
    data = {"username": USERNAME, "password": PASSWORD, "login_csrf": token}
    if forgery == "no field":
        del data["login_csrf"]
    elif forgery == "no cookie":
        client.cookies.clear()
    elif forgery == "another browser's field":
        app = create_app(settings=Settings(database_url=database_url), load_model=False)
        with TestClient(app, follow_redirects=False) as other:
            data["login_csrf"] = login_token(other)
    else:
        data["login_csrf"] = token[:-1] + ("A" if token[-1] != "A" else "B")
    response = client.post("/staff/login", data=data)
    assert response.status_code == 403 and console.SESSION_COOKIE not in response.cookies
    assert "Phiên đăng nhập đã hết hạn" in response.text and 'name="login_csrf"' in response.text
    assert client.get("/staff").status_code == 303
    # a refused form is no failed attempt: five of them do not lock the officer out
    for _ in range(5):
        client.post("/staff/login", data={"username": USERNAME, "password": "sai-mat-khau"})
    assert staff_login(client, USERNAME, PASSWORD).status_code == 303
