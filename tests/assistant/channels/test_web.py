"""Tests of the web widget's routes (assistant/channels/web.py), its token and CORS (web_auth.py) and history.

A fake engine writes each turn into Rasa's own in-memory tracker store, so history and "end" read real events.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from assistant.channels.web_auth import conversation_of_token, new_conversation, token_key
from assistant.channels.web_history import history_from_events
from assistant.db.models import Handoff
from assistant.db.session import session_scope
from assistant.main import create_app
from assistant.replies import Reply
from assistant.settings import Settings, parse_origins

PORTAL = "https://dichvucong.example.gov.vn"
GUIDE = {"procedure": "ho-chieu", "aspect": "steps", "step": 2, "steps": 7}
NEXT = [{"title": "Tiếp theo", "payload": "/next_step"}, {"title": "Gặp cán bộ", "payload": "/request_human"}]


class TrackerAgent:
    """Rasa's in-memory tracker and lock stores, as the routes use them."""

    def __init__(self) -> None:
        from rasa.core.lock_store import InMemoryLockStore
        from rasa.core.tracker_store import InMemoryTrackerStore
        from rasa.shared.core.domain import Domain

        self.tracker_store = InMemoryTrackerStore(Domain.empty())
        self.lock_store = InMemoryLockStore()


class RecordingEngine:
    """Answers every message with a guide step (text, buttons, answer metadata) and records it as Rasa would."""

    def __init__(self) -> None:
        self.agent = TrackerAgent()
        self.calls: list[dict[str, Any]] = []

    def is_ready(self) -> bool:
        return True

    async def handle(
        self, sender_id: str, text: str, *, channel: str = "rest", metadata: dict[str, Any] | None = None
    ) -> list[Reply]:
        from rasa.shared.core.events import BotUttered, UserUttered

        self.calls.append({"sender": sender_id, "text": text, "channel": channel, "metadata": metadata})
        tracker = await self.agent.tracker_store.get_or_create_tracker(sender_id)
        tracker.update(UserUttered(text))
        tracker.update(BotUttered("Bước 2/7: Đăng nhập VNeID", data={"buttons": NEXT, "custom": GUIDE}))
        await self.agent.tracker_store.save(tracker)
        return [Reply(recipient_id=sender_id, text="Bước 2/7: Đăng nhập VNeID", buttons=NEXT, custom=GUIDE)]


@pytest.fixture
def engine() -> RecordingEngine:
    return RecordingEngine()


def make_client(tmp_path: Path, engine: Any, **settings: Any) -> Iterator[TestClient]:
    app = create_app(settings=Settings(database_url=f"sqlite:///{tmp_path}/web.db", **settings), load_model=False)
    with TestClient(app, base_url="http://assistant.test") as client:
        client.app.state.engine = engine
        yield client


@pytest.fixture
def client(tmp_path: Path, engine: RecordingEngine) -> Iterator[TestClient]:
    yield from make_client(tmp_path, engine, allowed_origins=PORTAL)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def open_conversation(client: TestClient) -> str:
    response = client.post("/webhooks/web/conversations")
    assert response.status_code == 201
    return response.json()["token"]


# --- the token ----------------------------------------------------------------------------------------


def test_web_token_opens_only_its_own_web_conversation() -> None:
    key = token_key(Settings(session_secret=SecretStr("s" * 40)))
    conversation, token = new_conversation(key)
    assert re.fullmatch(r"web:[0-9a-f]{32}", conversation)
    assert conversation_of_token(key, token) == conversation
    hex_id, signature = token.split(".")
    other_id = "0" * 32
    assert conversation_of_token(key, f"{other_id}.{signature}") is None  # a signature for another conversation
    assert conversation_of_token(key, hex_id) is None  # a bare id
    assert conversation_of_token(key, conversation) is None
    assert conversation_of_token(key, "") is None and conversation_of_token(key, None) is None
    other_key = token_key(Settings(session_secret=SecretStr("t" * 40)))
    assert conversation_of_token(other_key, token) is None


def test_web_token_key_follows_the_session_secret() -> None:
    secret = Settings(session_secret=SecretStr("x" * 40))
    assert token_key(secret) == token_key(Settings(session_secret=SecretStr("x" * 40)))
    assert token_key(Settings()) == token_key(Settings())  # random, but one per process
    assert token_key(Settings()) != token_key(secret)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        (
            "https://Portal.example.gov.vn/, http://localhost:8080",
            ["https://portal.example.gov.vn", "http://localhost:8080"],
        ),
        ("*", ["*"]),
    ],
)
def test_settings_allowed_origins_parsed(value: str, expected: list[str]) -> None:
    assert parse_origins(value) == expected
    assert Settings(allowed_origins=value).allowed_origin_list == expected


@pytest.mark.parametrize("value", ["portal.example.gov.vn", "https://portal.example.gov.vn/chat", "ftp://x.vn"])
def test_settings_allowed_origins_refuse_what_is_not_an_origin(value: str) -> None:
    with pytest.raises(ValidationError):
        Settings(allowed_origins=value)


# --- routes -------------------------------------------------------------------------------------------


def test_web_message_needs_a_token_and_answers_with_metadata(client: TestClient, engine: RecordingEngine) -> None:
    assert client.post("/webhooks/web/webhook", json={"message": "hi"}).status_code == 401
    assert client.post("/webhooks/web/webhook", json={"message": "hi"}, headers=bearer("web:abc")).status_code == 401
    token = open_conversation(client)
    response = client.post(
        "/webhooks/web/webhook",
        json={"message": "tiếp", "metadata": {"page": "https://portal/a", "sender": "zalo:1"}},
        headers=bearer(token),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["with_staff"] is False
    assert body["messages"][0]["custom"] == GUIDE and body["messages"][0]["buttons"] == NEXT
    call = engine.calls[-1]
    assert call["sender"].startswith("web:") and call["channel"] == "web"
    assert call["metadata"] == {"page": "https://portal/a"}  # nothing else the client sends reaches Rasa


def test_web_history_restores_messages_buttons_and_position(client: TestClient) -> None:
    token = open_conversation(client)
    assert client.get("/webhooks/web/history").status_code == 401
    assert client.get("/webhooks/web/history", headers=bearer(token)).json() == {"messages": [], "with_staff": False}
    client.post("/webhooks/web/webhook", json={"message": "làm hộ chiếu"}, headers=bearer(token))
    client.post("/webhooks/web/webhook", json={"message": "/next_step"}, headers=bearer(token))
    messages = client.get("/webhooks/web/history", headers=bearer(token)).json()["messages"]
    assert [(m["from"], m["text"]) for m in messages] == [
        ("citizen", "làm hộ chiếu"),
        ("bot", "Bước 2/7: Đăng nhập VNeID"),
        ("citizen", "Tiếp theo"),  # the pressed button's title, not its payload
        ("bot", "Bước 2/7: Đăng nhập VNeID"),
    ]
    assert "buttons" not in messages[1] and messages[3]["buttons"] == NEXT  # only the last reply's buttons
    assert messages[3]["custom"] == GUIDE
    other = open_conversation(client)
    assert client.get("/webhooks/web/history", headers=bearer(other)).json()["messages"] == []


def test_web_end_restarts_the_conversation(client: TestClient) -> None:
    token = open_conversation(client)
    client.post("/webhooks/web/webhook", json={"message": "làm hộ chiếu"}, headers=bearer(token))
    assert client.post("/webhooks/web/end").status_code == 401
    assert client.post("/webhooks/web/end", headers=bearer(token)).status_code == 204
    assert client.get("/webhooks/web/history", headers=bearer(token)).json()["messages"] == []


def add_handoff(client: TestClient, sender_id: str, status: str = "open") -> None:
    with session_scope(client.app.state.db_engine) as session:
        session.add(
            Handoff(sender_id=sender_id, channel="web", summary="", answers={}, last_messages=[], status=status)
        )


def test_web_staff_messages_need_the_token_and_follow_the_handoff(client: TestClient, engine: RecordingEngine) -> None:
    from rasa.shared.core.events import BotUttered

    token = open_conversation(client)
    conversation = conversation_of_token(client.app.state.widget_token_key, token)
    assert conversation is not None
    assert client.get("/webhooks/web/staff-messages").status_code == 401
    assert client.get("/webhooks/rest/staff-messages", params={"sender": conversation}).status_code in (404, 405)
    assert client.get("/webhooks/web/staff-messages", headers=bearer(token)).json() == {"paused": False, "messages": []}

    add_handoff(client, conversation)

    async def staff_writes() -> None:
        tracker = await engine.agent.tracker_store.get_or_create_tracker(conversation)
        tracker.update(BotUttered("Chào bạn, cán bộ đây", metadata={"from_staff": "canbo1"}))
        await engine.agent.tracker_store.save(tracker)

    asyncio.run(staff_writes())
    body = client.get("/webhooks/web/staff-messages", params={"after": 0}, headers=bearer(token)).json()
    assert body["paused"] is True and [m["text"] for m in body["messages"]] == ["Chào bạn, cán bộ đây"]
    later = client.get(
        "/webhooks/web/staff-messages", params={"after": body["messages"][0]["timestamp"]}, headers=bearer(token)
    )
    assert later.json()["messages"] == []
    history = client.get("/webhooks/web/history", headers=bearer(token)).json()
    assert history["with_staff"] is True and history["messages"][-1]["from"] == "staff"
    assert client.get("/webhooks/web/staff-messages", params={"after": "x"}, headers=bearer(token)).status_code == 422


# --- CORS ---------------------------------------------------------------------------------------------


def preflight(client: TestClient, path: str, origin: str, method: str = "POST") -> Any:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/webhooks/web/conversations", "POST"),
        ("/webhooks/web/webhook", "POST"),
        ("/webhooks/web/history", "GET"),
        ("/webhooks/web/staff-messages", "GET"),
        ("/webhooks/web/end", "POST"),
    ],
)
def test_web_cors_preflight_allowed_origin(client: TestClient, path: str, method: str) -> None:
    response = preflight(client, path, PORTAL, method)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == PORTAL
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in response.headers


def test_web_cors_actual_request_carries_the_origin(client: TestClient) -> None:
    response = client.post("/webhooks/web/conversations", headers={"Origin": PORTAL})
    assert response.status_code == 201 and response.headers["access-control-allow-origin"] == PORTAL
    unauthorised = client.get("/webhooks/web/history", headers={"Origin": PORTAL})
    assert unauthorised.status_code == 401 and unauthorised.headers["access-control-allow-origin"] == PORTAL


def test_web_cors_refuses_an_origin_not_allowed(client: TestClient, engine: RecordingEngine) -> None:
    refused = preflight(client, "/webhooks/web/webhook", "https://evil.example")
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    token = open_conversation(client)
    posted = client.post(
        "/webhooks/web/webhook", json={"message": "hi"}, headers={"Origin": "https://evil.example", **bearer(token)}
    )
    assert posted.status_code == 403 and engine.calls == []


def test_web_cors_own_origin_works_without_configuration(tmp_path: Path, engine: RecordingEngine) -> None:
    for client in make_client(tmp_path, engine):
        response = client.post("/webhooks/web/conversations", headers={"Origin": "http://assistant.test"})
        assert response.status_code == 201
        assert preflight(client, "/webhooks/web/webhook", PORTAL).status_code == 403


@pytest.mark.parametrize("path", ["/webhooks/rest/webhook", "/api/procedures", "/staff/login", "/health"])
def test_web_cors_only_on_the_widget_routes(client: TestClient, path: str) -> None:
    response = preflight(client, path, PORTAL)
    assert "access-control-allow-origin" not in response.headers


# --- history from events ------------------------------------------------------------------------------


def test_web_history_merges_metadata_and_starts_after_restart() -> None:
    from rasa.shared.core.events import BotUttered, Restarted, UserUttered

    events = [
        UserUttered("cũ"),
        BotUttered("cũ"),
        Restarted(),
        UserUttered("/greet"),
        BotUttered("Xin chào", data={"buttons": [{"title": "Xem tất cả dịch vụ", "payload": "/list_services"}]}),
        UserUttered("/list_services"),
        BotUttered("Bước 1/3: …"),
        BotUttered(None, data={"custom": {"procedure": "ho-chieu", "step": 1, "steps": 3}}),
        UserUttered('/choose_option{"option": "x"}'),
    ]
    messages = history_from_events(events)
    assert [(m["from"], m["text"]) for m in messages] == [
        ("citizen", "Xin chào"),
        ("bot", "Xin chào"),
        ("citizen", "Xem tất cả dịch vụ"),
        ("bot", "Bước 1/3: …"),
    ]
    assert messages[3]["custom"] == {"procedure": "ho-chieu", "step": 1, "steps": 3}
