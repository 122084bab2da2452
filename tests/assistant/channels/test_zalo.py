"""Tests of assistant/channels/zalo.py: a fake engine and a fake Zalo OA API on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.channels import common, zalo_send
from assistant.channels.rest import NO_WORDS_REPLY
from assistant.main import create_app
from assistant.outbox_worker import OutboxWorker
from assistant.replies import Reply
from assistant.settings import Settings
from tests.assistant.channels.fakes import FakeEngine, FakePlatform
from tests.postgres import redis_database

APP_ID = "4305567891234"
OA_SECRET = "oa-secret-xyz"
ACCESS_TOKEN = "zalo-access-token-123"
USER = "2468458835296117922"
PAYLOAD = '/start_guide{"procedure": "ho-chieu"}'


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    with FakePlatform(answer=lambda _status: {"error": 0, "message": "Success", "data": {"message_id": "m"}}) as fake:
        yield fake


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine([{"title": "Hộ chiếu phổ thông", "payload": PAYLOAD}, {"title": "Gặp cán bộ", "payload": "gặp cán bộ"}])


def make_client(tmp_path: Path, **settings: Any) -> TestClient:
    app = create_app(settings=Settings(database_url=f"sqlite:///{tmp_path}/t.db", **settings), load_model=False)
    return TestClient(app)


@pytest.fixture
def client(tmp_path: Path, platform: FakePlatform, engine: FakeEngine) -> Iterator[TestClient]:
    settings = {
        "zalo_app_id": APP_ID,
        "zalo_oa_secret": OA_SECRET,
        "zalo_access_token": ACCESS_TOKEN,
        "zalo_api_base": platform.url,
        "outbox_retry_seconds": 0.01,
        "worker_interval_seconds": 3600,
    }
    with make_client(tmp_path, **settings) as test_client:
        test_client.app.state.engine = engine
        yield test_client


def event(
    text: str | None = "làm hộ chiếu", *, msg_id: str = "96d3cdf3af150460909", name: str = "user_send_text"
) -> bytes:
    message: dict[str, Any] = {"msg_id": msg_id}
    if text is not None:
        message["text"] = text
    body = {
        "app_id": APP_ID,
        "user_id_by_app": "552177279717587730",
        "event_name": name,
        "sender": {"id": USER},
        "recipient": {"id": "388613280878808645"},
        "message": message,
        "timestamp": "1700000000000",
    }
    return json.dumps(body, ensure_ascii=False).encode()


def signed(raw: bytes, timestamp: str = "1700000000000", secret: str = OA_SECRET) -> dict[str, str]:
    mac = hashlib.sha256(APP_ID.encode() + raw + timestamp.encode() + secret.encode()).hexdigest()
    return {"X-ZEvent-Signature": f"mac={mac}", "Content-Type": "application/json"}


def post(client: TestClient, raw: bytes, headers: dict[str, str] | None = None) -> Any:
    return client.post("/webhooks/zalo/webhook", content=raw, headers=signed(raw) if headers is None else headers)


def test_zalo_disabled_without_secrets_is_404(tmp_path: Path) -> None:
    with make_client(tmp_path, zalo_app_id=APP_ID, zalo_oa_secret=OA_SECRET) as test_client:
        raw = event()
        assert post(test_client, raw).status_code == 404


def test_zalo_good_event_reaches_engine_and_platform(
    client: TestClient, platform: FakePlatform, engine: FakeEngine
) -> None:
    response = post(client, event())
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert [(c["sender_id"], c["text"], c["channel"]) for c in engine.calls] == [(f"zalo:{USER}", "làm hộ chiếu", "zalo")]
    assert engine.calls[0]["metadata"]["zalo"]["msg_id"] == "96d3cdf3af150460909"

    [sent] = platform.requests
    assert sent["path"] == "/v3.0/oa/message/cs"
    assert sent["headers"]["access_token"] == ACCESS_TOKEN
    assert sent["json"]["recipient"] == {"user_id": USER}
    message = sent["json"]["message"]
    assert message["text"] == "Bạn muốn làm thủ tục nào?"
    assert message["attachment"] == {
        "type": "template",
        "payload": {
            "buttons": [
                {"title": "Hộ chiếu phổ thông", "type": "oa.query.hide", "payload": PAYLOAD},
                {"title": "Gặp cán bộ", "type": "oa.query.show", "payload": "gặp cán bộ"},
            ]
        },
    }


def test_zalo_signature_with_header_timestamp(client: TestClient, engine: FakeEngine) -> None:
    raw = event()
    headers = signed(raw, timestamp="1700000000999") | {"X-ZEvent-Timestamp": "1700000000999"}
    assert post(client, raw, headers).status_code == 200
    assert len(engine.calls) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-ZEvent-Signature": "mac=" + "0" * 64},
        "wrong-secret",
        "wrong-timestamp",
    ],
)
def test_zalo_bad_signature_is_403(
    client: TestClient, platform: FakePlatform, engine: FakeEngine, headers: Any
) -> None:
    raw = event()
    if headers == "wrong-secret":
        headers = signed(raw, secret="not-the-secret")
    elif headers == "wrong-timestamp":
        headers = signed(raw, timestamp="1")
    assert post(client, raw, headers).status_code == 403
    assert engine.calls == [] and platform.requests == []


def test_zalo_signature_covers_the_raw_body(client: TestClient, engine: FakeEngine) -> None:
    raw = event()
    tampered = raw.replace("làm hộ chiếu".encode(), "làm căn cước".encode())
    assert post(client, tampered, signed(raw)).status_code == 403
    assert engine.calls == []


def test_zalo_duplicate_message_is_processed_once(
    client: TestClient, platform: FakePlatform, engine: FakeEngine
) -> None:
    raw = event()
    assert post(client, raw).json() == {"status": "ok"}
    assert post(client, raw).json() == {"status": "duplicate"}
    assert len(engine.calls) == 1 and len(platform.requests) == 1


def test_zalo_button_payload_passes_to_engine_as_text(client: TestClient, engine: FakeEngine) -> None:
    assert post(client, event(PAYLOAD, msg_id="m-button")).status_code == 200
    assert engine.calls[0]["text"] == PAYLOAD


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", "\u00ff\u00fe".encode("latin-1")])
def test_zalo_malformed_body_is_400(client: TestClient, engine: FakeEngine, raw: bytes) -> None:
    assert post(client, raw).status_code == 400
    assert engine.calls == []


@pytest.mark.parametrize("name", ["follow", "oa_send_text", "user_seen_message", ""])
def test_zalo_irrelevant_events_are_ignored(
    client: TestClient, platform: FakePlatform, engine: FakeEngine, name: str
) -> None:
    response = post(client, event(name=name))
    assert response.status_code == 200 and response.json() == {"status": "ignored"}
    assert engine.calls == [] and platform.requests == []


def test_zalo_image_gets_text_only_reply_without_engine(
    client: TestClient, platform: FakePlatform, engine: FakeEngine
) -> None:
    assert post(client, event(None, name="user_send_image", msg_id="m-img")).status_code == 200
    assert engine.calls == []
    assert platform.requests[0]["json"]["message"] == {"text": NO_WORDS_REPLY}


def test_zalo_send_failure_does_not_crash(
    client: TestClient, platform: FakePlatform, engine: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    platform.status = 500
    with caplog.at_level(logging.WARNING, logger="assistant.outbox"):
        assert post(client, event(msg_id="m-500")).status_code == 200
    # a 5xx is retried (outbox_attempts), then kept for the worker's next round
    assert len(engine.calls) == 1 and len(platform.requests) == client.app.state.settings.outbox_attempts
    assert "HTTP 500" in caplog.text and USER in caplog.text
    assert ACCESS_TOKEN not in caplog.text and "hộ chiếu" not in caplog.text


def test_zalo_api_error_code_is_logged(
    client: TestClient, platform: FakePlatform, caplog: pytest.LogCaptureFixture
) -> None:
    platform.answer = lambda _status: {"error": -213, "message": "User has not followed OA"}
    with caplog.at_level(logging.WARNING, logger="assistant.channels.zalo"):
        assert post(client, event(msg_id="m-213")).status_code == 200
    assert "Zalo error -213" in caplog.text


def test_zalo_unreachable_platform_does_not_crash(
    client: TestClient, platform: FakePlatform, engine: FakeEngine
) -> None:
    platform.server.shutdown()
    platform.server.server_close()
    assert post(client, event(msg_id="m-down")).status_code == 200
    assert len(engine.calls) == 1


def test_zalo_engine_not_loaded_drops_then_redelivery_is_processed(
    client: TestClient, platform: FakePlatform, engine: FakeEngine
) -> None:
    client.app.state.engine = None
    raw = event(msg_id="m-early")
    assert post(client, raw).status_code == 200
    assert platform.requests == []
    client.app.state.engine = engine
    assert post(client, raw).json() == {"status": "duplicate"}  # accepted already: kept in the outbox
    client.portal.call(OutboxWorker(client.app).run_once)
    assert len(engine.calls) == 1 and len(platform.requests) == 1


def test_zalo_messages_split_long_text_and_overflow_buttons() -> None:
    buttons = [{"title": f"Lựa chọn {i}", "payload": f'/choose{{"n": {i}}}'} for i in range(7)]
    messages = zalo_send.zalo_messages(Reply(recipient_id=USER, text="x " * 1500, buttons=buttons))
    assert [len(m["text"]) <= zalo_send.ZALO_MAX_TEXT for m in messages] == [True] * len(messages)
    assert [len(m.get("attachment", {}).get("payload", {}).get("buttons", [])) for m in messages] == [0, 5, 2]
    assert messages[-1]["text"] == zalo_send.MORE_CHOICES_TEXT
    assert zalo_send.zalo_messages(Reply(recipient_id=USER, custom={"x": 1})) == []


#: The Redis database of the deduplication tests (each test module that uses Redis has its own number).
REDIS_DB = 8


@pytest.fixture
def redis_ids() -> Iterator[tuple[str, str]]:
    """(the URL of the test Redis, a random part for this test's message ids); the test's keys deleted after."""
    import uuid

    import redis

    url, mark = redis_database(REDIS_DB), uuid.uuid4().hex
    yield url, mark
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"assistant:webhook-seen:*{mark}*"):
        client.delete(key)
    client.close()


async def test_recent_ids_in_memory_is_bounded() -> None:
    seen = common.RecentIds(max_size=2)
    assert [await seen.first_time(k) for k in ("a", "b", "a", "c", "b")] == [True, True, False, True, True]
    await seen.forget("c")
    assert await seen.first_time("c")


async def test_recent_ids_shares_through_redis(redis_ids: tuple[str, str]) -> None:
    url, mark = redis_ids
    one, two = common.RecentIds(redis_url=url), common.RecentIds(redis_url=url)  # two processes
    key = f"zalo:{mark}"
    assert await one.first_time(key)
    assert not await two.first_time(key)
    assert not await one.first_time(key)
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url)
    assert 24 * 3600 - 60 < await client.ttl(f"assistant:webhook-seen:{key}") <= 24 * 3600
    await two.forget(key)
    assert await client.exists(f"assistant:webhook-seen:{key}") == 0
    await client.close()
    assert await two.first_time(key)  # forgotten in Redis: a redelivery is processed


async def test_recent_ids_falls_back_to_memory_when_redis_fails(caplog: pytest.LogCaptureFixture) -> None:
    import socket

    with socket.socket() as unused:  # a port where no Redis listens
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    seen = common.RecentIds(redis_url=f"redis://127.0.0.1:{port}/0")
    with caplog.at_level(logging.WARNING, logger="assistant.channels.common"):
        assert await seen.first_time("zalo:1")
        assert not await seen.first_time("zalo:1")
    assert "Redis deduplication failed" in caplog.text


def test_zalo_redelivery_to_a_second_process_is_a_duplicate_through_redis(
    tmp_path: Path, platform: FakePlatform, engine: FakeEngine, redis_ids: tuple[str, str]
) -> None:
    """Two app processes (each its own database, one Redis): Zalo redelivering to the other one is not answered twice."""
    url, mark = redis_ids
    settings = {
        "zalo_app_id": APP_ID,
        "zalo_oa_secret": OA_SECRET,
        "zalo_access_token": ACCESS_TOKEN,
        "zalo_api_base": platform.url,
        "worker_interval_seconds": 3600,
        "redis_url": url,
        "session_secret": "dedup-test-secret-0123456789abcdef",
    }
    raw = event(msg_id=f"m-{mark}")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with make_client(tmp_path / "a", **settings) as first, make_client(tmp_path / "b", **settings) as second:
        first.app.state.engine = second.app.state.engine = engine
        assert post(first, raw).json() == {"status": "ok"}
        assert post(second, raw).json() == {"status": "duplicate"}
    assert len(engine.calls) == 1 and len(platform.requests) == 1


def test_split_text_keeps_lines_whole() -> None:
    assert common.split_text("Bước 1: nộp hồ sơ\nBước 2: nhận kết quả", 20) == [
        "Bước 1: nộp hồ sơ",
        "Bước 2: nhận kết quả",
    ]
    assert common.split_text("   ", 10) == []
    assert common.split_text("a" * 25, 10) == ["a" * 10, "a" * 10, "a" * 5]


ZALO_FIELDS = ["timestamp", "app_id", "event_name", "sender", "recipient", "message", "user_id_by_app"]


@pytest.mark.parametrize("field", ZALO_FIELDS)
@pytest.mark.parametrize("forgery", ["unsigned", "wrong-secret", "empty-timestamp"])
def test_zalo_event_missing_a_field_is_still_verified(
    client: TestClient, engine: FakeEngine, platform: FakePlatform, field: str, forgery: str
) -> None:
    body = json.loads(event())
    del body[field]
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = {
        "unsigned": {"Content-Type": "application/json"},
        "wrong-secret": signed(raw, secret="guessed"),
        "empty-timestamp": signed(raw, timestamp=""),  # no timestamp to sign with: never enough
    }[forgery]
    assert post(client, raw, headers).status_code == 403
    assert engine.calls == [] and platform.requests == []


def test_zalo_event_without_timestamp_is_refused_even_signed_without_one(client: TestClient, engine: FakeEngine) -> None:
    body = json.loads(event())
    del body["timestamp"]
    raw = json.dumps(body, ensure_ascii=False).encode()
    assert post(client, raw, signed(raw, timestamp="")).status_code == 403
    assert engine.calls == []


@pytest.mark.parametrize("field", ["msg_id", "text"])
def test_zalo_message_missing_a_field_is_still_verified(client: TestClient, engine: FakeEngine, field: str) -> None:
    body = json.loads(event())
    del body["message"][field]
    raw = json.dumps(body, ensure_ascii=False).encode()
    assert post(client, raw, signed(raw, secret="guessed")).status_code == 403
    assert post(client, raw, {"Content-Type": "application/json"}).status_code == 403
    assert engine.calls == []
