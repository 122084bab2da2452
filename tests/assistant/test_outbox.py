"""Tests of assistant/outbox.py: platform sends retried and kept across restarts (fake Zalo API on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from assistant.channels import zalo_send
from assistant.db.models import OutboxRow
from assistant.db.session import session_scope
from assistant.outbox_worker import OutboxWorker
from tests.assistant.channels.fakes import FakeEngine, FakePlatform
from tests.assistant.channels.test_zalo import ACCESS_TOKEN, APP_ID, OA_SECRET, USER, event, make_client, post

OK = {"error": 0, "message": "Success", "data": {"message_id": "m"}}


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    with FakePlatform(answer=lambda _status: OK) as fake:
        yield fake


def scripted(platform: FakePlatform, answers: list[tuple[int, dict[str, Any]]]) -> None:
    """Answer the next requests with these (status, body), then 200 OK (the status is read after the answer)."""

    def answer(_status: int) -> dict[str, Any]:
        status, body = answers.pop(0) if answers else (200, OK)
        platform.status = status
        return body

    platform.answer = answer


def zalo_client(tmp_path: Path, platform: FakePlatform, **extra: Any) -> TestClient:
    settings = {
        "zalo_app_id": APP_ID,
        "zalo_oa_secret": OA_SECRET,
        "zalo_access_token": ACCESS_TOKEN,
        "zalo_api_base": platform.url,
        "outbox_retry_seconds": 0.01,
        "worker_interval_seconds": 3600,
        **extra,
    }
    return make_client(tmp_path, **settings)


def rows(client: TestClient) -> list[OutboxRow]:
    with session_scope(client.app.state.db_engine) as session:
        found = list(session.execute(select(OutboxRow).order_by(OutboxRow.id)).scalars())
        session.expunge_all()
        return found


def test_outbox_5xx_is_retried_and_delivered_once(tmp_path: Path, platform: FakePlatform) -> None:
    scripted(platform, [(500, {}), (503, {})])
    with zalo_client(tmp_path, platform) as client:
        client.app.state.engine = engine = FakeEngine([])
        assert post(client, event(msg_id="m-retry")).json() == {"status": "ok"}
        assert len(engine.calls) == 1
        assert [r.status for r in rows(client)] == ["done", "done"]
    assert len(platform.requests) == 3  # 500, 503, then delivered; never sent twice


@pytest.mark.parametrize("status", [400, 403, 404])
def test_outbox_4xx_is_not_retried(tmp_path: Path, platform: FakePlatform, status: int) -> None:
    scripted(platform, [(status, {"error": status})])
    with zalo_client(tmp_path, platform) as client:
        client.app.state.engine = FakeEngine([])
        post(client, event(msg_id=f"m-{status}"))
        out = rows(client)[-1]
        assert (out.direction, out.status, out.last_error) == ("out", "failed", f"HTTP {status}")
        client.portal.call(OutboxWorker(client.app).run_once)  # a failed send is not tried again
    assert len(platform.requests) == 1


def test_outbox_zalo_expired_token_is_retried_after_renewal(
    tmp_path: Path, platform: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted(platform, [(200, {"error": -216, "message": "Access token is invalid"})])
    renewed: list[bool] = []

    class Tokens:
        def access_token(self) -> str:
            return "renewed-token" if renewed else ACCESS_TOKEN

        async def renew(self, *, spent: str | None = None) -> str:
            assert spent == ACCESS_TOKEN
            renewed.append(True)
            return "renewed-token"

    with zalo_client(tmp_path, platform) as client:
        client.app.state.engine = FakeEngine([])
        monkeypatch.setattr(zalo_send, "current_tokens", lambda _settings: Tokens())
        post(client, event(msg_id="m-216"))
    assert renewed == [True]
    assert [r["headers"]["access_token"] for r in platform.requests] == [ACCESS_TOKEN, "renewed-token"]


def test_outbox_other_zalo_error_is_not_retried(tmp_path: Path, platform: FakePlatform) -> None:
    scripted(platform, [(200, {"error": -213, "message": "User has not followed OA"})])
    with zalo_client(tmp_path, platform) as client:
        client.app.state.engine = FakeEngine([])
        post(client, event(msg_id="m-213"))
        assert rows(client)[-1].status == "failed"
    assert len(platform.requests) == 1


def test_outbox_send_still_failing_is_kept_then_delivered_by_the_worker(tmp_path: Path, platform: FakePlatform) -> None:
    scripted(platform, [(502, {})] * 4)
    with zalo_client(tmp_path, platform, outbox_attempts=4) as client:
        client.app.state.engine = FakeEngine([])
        post(client, event(msg_id="m-later"))
        out = rows(client)[-1]
        assert (out.status, out.attempts) == ("pending", 1)
        with session_scope(client.app.state.db_engine) as session:  # its next round is due now
            session.get(OutboxRow, out.id).next_attempt_at = out.created_at
        client.portal.call(OutboxWorker(client.app).run_once)
        assert rows(client)[-1].status == "done"
    assert len(platform.requests) == 5


def test_outbox_event_accepted_before_a_crash_is_answered_after_restart(tmp_path: Path, platform: FakePlatform) -> None:
    raw = event(msg_id="m-crash")
    with zalo_client(tmp_path, platform) as client:  # the engine is not up (still loading, or the process dies)
        assert post(client, raw).json() == {"status": "ok"}
    assert platform.requests == []
    with zalo_client(tmp_path, platform, worker_interval_seconds=0.05) as client:  # restarted: the worker answers
        client.app.state.engine = engine = FakeEngine([])
        for _ in range(100):
            if platform.requests:
                break
            client.portal.call(__import__("asyncio").sleep, 0.05)
        assert post(client, raw).json() == {"status": "duplicate"}  # Zalo's retry after the restart: no second answer
    assert len(engine.calls) == 1 and len(platform.requests) == 1
    assert platform.requests[0]["json"]["recipient"] == {"user_id": USER}
