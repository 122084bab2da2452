"""Tests of assistant/channels/messenger.py: a fake engine and a fake Graph API on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.channels import messenger_send
from assistant.channels.rest import NO_WORDS_REPLY
from assistant.main import create_app
from assistant.outbox_worker import OutboxWorker
from assistant.replies import Reply
from assistant.settings import Settings
from tests.assistant.channels.fakes import FakeEngine, FakePlatform, graph_answer

VERIFY_TOKEN = "verify-me"
APP_SECRET = "app-secret-abc"
PAGE_TOKEN = "EAAG-page-token-123"
PAGE = "106312345678901"
PSID = "6543210987654321"
PAYLOAD = '/start_guide{"procedure": "ho-chieu"}'


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    with FakePlatform(answer=graph_answer(PSID), prefix="/v21.0") as fake:
        yield fake


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(
        [
            {"title": "Cấp hộ chiếu phổ thông lần đầu", "payload": PAYLOAD},
            {"title": "Gặp cán bộ", "payload": "/request_human"},
        ]
    )


def make_client(tmp_path: Path, **settings: Any) -> TestClient:
    app = create_app(settings=Settings(database_url=f"sqlite:///{tmp_path}/t.db", **settings), load_model=False)
    return TestClient(app)


@pytest.fixture
def client(tmp_path: Path, platform: FakePlatform, engine: FakeEngine) -> Iterator[TestClient]:
    settings = {
        "messenger_verify_token": VERIFY_TOKEN,
        "messenger_app_secret": APP_SECRET,
        "messenger_page_token": PAGE_TOKEN,
        "messenger_api_base": platform.url,
        "outbox_retry_seconds": 0.01,
        "worker_interval_seconds": 3600,
    }
    with make_client(tmp_path, **settings) as test_client:
        test_client.app.state.engine = engine
        yield test_client


def delivery(*events: dict[str, Any]) -> bytes:
    body = {"object": "page", "entry": [{"id": PAGE, "time": 1700000000000, "messaging": list(events)}]}
    return json.dumps(body, ensure_ascii=False).encode()


def text_event(text: str = "làm hộ chiếu", mid: str = "m_abc123", **message: Any) -> dict[str, Any]:
    return {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE},
        "timestamp": 1700000000000,
        "message": {"mid": mid, "text": text, **message},
    }


def signed(raw: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def post(client: TestClient, raw: bytes, headers: dict[str, str] | None = None) -> Any:
    return client.post("/webhooks/facebook/webhook", content=raw, headers=signed(raw) if headers is None else headers)


def verify_params(token: str = VERIFY_TOKEN, mode: str = "subscribe") -> dict[str, str]:
    return {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": "1158201444"}


def test_messenger_disabled_without_secrets_is_404(tmp_path: Path) -> None:
    with make_client(tmp_path, messenger_verify_token=VERIFY_TOKEN, messenger_app_secret=APP_SECRET) as test_client:
        assert test_client.get("/webhooks/facebook/webhook", params=verify_params()).status_code == 404
        raw = delivery(text_event())
        assert post(test_client, raw).status_code == 404


def test_messenger_verify_handshake_echoes_challenge(client: TestClient) -> None:
    response = client.get("/webhooks/facebook/webhook", params=verify_params())
    assert response.status_code == 200
    assert response.text == "1158201444"


@pytest.mark.parametrize("params", [verify_params("wrong"), verify_params(mode="unsubscribe"), {}])
def test_messenger_verify_handshake_refuses_wrong_token(client: TestClient, params: dict[str, str]) -> None:
    assert client.get("/webhooks/facebook/webhook", params=params).status_code == 403


def test_messenger_good_event_reaches_engine_and_platform(
    client: TestClient, platform: FakePlatform, engine: FakeEngine
) -> None:
    response = post(client, delivery(text_event()))
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert [(c["sender_id"], c["text"], c["channel"]) for c in engine.calls] == [(f"messenger:{PSID}", "làm hộ chiếu", "messenger")]
    assert engine.calls[0]["metadata"] == {
        "messenger": {"mid": "m_abc123", "page_id": PAGE, "timestamp": 1700000000000}
    }

    [sent] = platform.requests
    assert sent["path"] == "/v21.0/me/messages"
    assert sent["query"] == {"access_token": [PAGE_TOKEN]}
    assert sent["json"] == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {
            "text": "Bạn muốn làm thủ tục nào?",
            "quick_replies": [
                {"content_type": "text", "title": "Cấp hộ chiếu phổ th…", "payload": PAYLOAD},
                {"content_type": "text", "title": "Gặp cán bộ", "payload": "/request_human"},
            ],
        },
    }
    assert all(len(q["title"]) <= 20 for q in sent["json"]["message"]["quick_replies"])


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Hub-Signature-256": "sha256=" + "0" * 64}, "wrong-secret", "sha1"],
)
def test_messenger_bad_signature_is_403(
    client: TestClient, platform: FakePlatform, engine: FakeEngine, headers: Any
) -> None:
    raw = delivery(text_event())
    if headers == "wrong-secret":
        headers = signed(raw, secret="not-the-secret")
    elif headers == "sha1":
        headers = {"X-Hub-Signature": "sha1=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha1).hexdigest()}
    assert post(client, raw, headers).status_code == 403
    assert engine.calls == [] and platform.requests == []


def test_messenger_signature_covers_the_raw_body(client: TestClient, engine: FakeEngine) -> None:
    raw = delivery(text_event())
    reformatted = json.dumps(json.loads(raw), indent=2).encode()
    assert post(client, reformatted, signed(raw)).status_code == 403
    assert engine.calls == []


def test_messenger_duplicate_message_is_processed_once(
    client: TestClient, platform: FakePlatform, engine: FakeEngine
) -> None:
    raw = delivery(text_event())
    assert post(client, raw).status_code == 200
    assert post(client, raw).json() == {"status": "ignored"}
    assert len(engine.calls) == 1 and len(platform.requests) == 1


def test_messenger_quick_reply_payload_passes_to_engine(client: TestClient, engine: FakeEngine) -> None:
    event = text_event("Cấp hộ chiếu phổ th…", mid="m_qr", quick_reply={"payload": PAYLOAD})
    assert post(client, delivery(event)).status_code == 200
    assert engine.calls[0]["text"] == PAYLOAD


def test_messenger_postback_payload_passes_to_engine(client: TestClient, engine: FakeEngine) -> None:
    event = {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE},
        "timestamp": 1700000000001,
        "postback": {"mid": "m_pb", "title": "Bắt đầu", "payload": "/greet"},
    }
    assert post(client, delivery(event)).status_code == 200
    assert [c["text"] for c in engine.calls] == ["/greet"]


def test_messenger_batched_events_are_answered_in_order(
    client: TestClient, platform: FakePlatform, engine: FakeEngine
) -> None:
    assert (
        post(client, delivery(text_event("xin chào", mid="m1"), text_event("làm hộ chiếu", mid="m2"))).status_code
        == 200
    )
    assert [c["text"] for c in engine.calls] == ["xin chào", "làm hộ chiếu"]
    assert len(platform.requests) == 2


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'"page"'])
def test_messenger_malformed_body_is_400(client: TestClient, engine: FakeEngine, raw: bytes) -> None:
    assert post(client, raw).status_code == 400
    assert engine.calls == []


@pytest.mark.parametrize(
    "body",
    [
        {"object": "instagram", "entry": []},
        {"object": "page", "entry": "x"},
        json.loads(delivery(text_event(is_echo=True))),
        json.loads(delivery({"sender": {"id": PSID}, "delivery": {"mids": ["m_1"], "watermark": 1}})),
        json.loads(delivery({"sender": {"id": PSID}, "read": {"watermark": 1}})),
        {"object": "page", "entry": [{"id": PAGE, "messaging": [1, {"message": {"text": "no sender"}}]}]},
    ],
)
def test_messenger_irrelevant_events_are_ignored(
    client: TestClient, platform: FakePlatform, engine: FakeEngine, body: dict[str, Any]
) -> None:
    response = post(client, json.dumps(body).encode())
    assert response.status_code == 200 and response.json() == {"status": "ignored"}
    assert engine.calls == [] and platform.requests == []


def test_messenger_sticker_gets_text_only_reply_without_engine(
    client: TestClient, platform: FakePlatform, engine: FakeEngine
) -> None:
    event = text_event(mid="m_sticker")
    del event["message"]["text"]
    event["message"]["attachments"] = [{"type": "image", "payload": {"sticker_id": 369239263222822}}]
    assert post(client, delivery(event)).status_code == 200
    assert engine.calls == []
    assert platform.requests[0]["json"]["message"] == {"text": NO_WORDS_REPLY}


def test_messenger_send_failure_does_not_crash_nor_log_token(
    client: TestClient, platform: FakePlatform, engine: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    platform.status = 500
    with caplog.at_level(logging.INFO):
        assert post(client, delivery(text_event(mid="m_500"))).status_code == 200
    # a 5xx is retried (outbox_attempts), then kept for the worker's next round
    assert len(engine.calls) == 1 and len(platform.requests) == client.app.state.settings.outbox_attempts
    assert "HTTP 500" in caplog.text and PSID in caplog.text
    assert (
        "access_token=***" in caplog.text or "access_token" not in caplog.text
    )  # httpx logs at WARNING; redacted if raised
    assert PAGE_TOKEN not in caplog.text and "hộ chiếu" not in caplog.text


def test_messenger_unreachable_platform_does_not_crash(
    client: TestClient, platform: FakePlatform, engine: FakeEngine
) -> None:
    platform.server.shutdown()
    platform.server.server_close()
    assert post(client, delivery(text_event(mid="m_down"))).status_code == 200
    assert len(engine.calls) == 1


def test_messenger_engine_not_loaded_drops_then_redelivery_is_processed(
    client: TestClient, platform: FakePlatform, engine: FakeEngine
) -> None:
    client.app.state.engine = None
    raw = delivery(text_event(mid="m_early"))
    assert post(client, raw).status_code == 200
    assert platform.requests == []
    client.app.state.engine = engine
    assert post(client, raw).json() == {"status": "ignored"}  # accepted already: kept in the outbox
    client.portal.call(OutboxWorker(client.app).run_once)
    assert len(engine.calls) == 1 and len(platform.requests) == 1


def test_messenger_messages_limits() -> None:
    buttons = [{"title": f"Lựa chọn số {i}", "payload": f'/choose{{"n": {i}}}'} for i in range(15)]
    messages = messenger_send.messenger_messages(Reply(recipient_id=PSID, text="x " * 1500, buttons=buttons))
    assert all(len(m["text"]) <= messenger_send.MESSENGER_MAX_TEXT for m in messages)
    assert [len(m.get("quick_replies", [])) for m in messages] == [0, 13]
    only_buttons = messenger_send.messenger_messages(Reply(recipient_id=PSID, buttons=buttons[:1]))
    assert only_buttons[0]["text"] and len(only_buttons[0]["quick_replies"]) == 1
    assert messenger_send.messenger_messages(Reply(recipient_id=PSID, custom={"x": 1})) == []


def _without(path: tuple[str, ...]) -> bytes:
    body = json.loads(delivery(text_event()))
    target = body
    for key in path[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = path[-1]
    del target[int(last) if last.isdigit() else last]
    return json.dumps(body, ensure_ascii=False).encode()


MESSENGER_FIELDS = [
    ("object",),
    ("entry",),
    ("entry", "0", "id"),
    ("entry", "0", "messaging"),
    ("entry", "0", "messaging", "0", "sender"),
    ("entry", "0", "messaging", "0", "timestamp"),
    ("entry", "0", "messaging", "0", "message"),
    ("entry", "0", "messaging", "0", "message", "mid"),
]


@pytest.mark.parametrize("path", MESSENGER_FIELDS, ids=["/".join(p) for p in MESSENGER_FIELDS])
@pytest.mark.parametrize("forgery", ["unsigned", "wrong-secret", "sha1-header"])
def test_messenger_event_missing_a_field_is_still_verified(
    client: TestClient, engine: FakeEngine, platform: FakePlatform, path: tuple[str, ...], forgery: str
) -> None:
    raw = _without(path)
    headers = {
        "unsigned": {"Content-Type": "application/json"},
        "wrong-secret": signed(raw, secret="guessed"),
        "sha1-header": {"X-Hub-Signature": "sha1=" + hashlib.sha1(raw).hexdigest(), "Content-Type": "application/json"},
    }[forgery]
    assert post(client, raw, headers).status_code == 403
    assert engine.calls == [] and platform.requests == []
