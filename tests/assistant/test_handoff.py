"""Tests of assistant/handoff.py: the gate (one source of truth), timeout, out-of-hours call-back, queue, claims."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from assistant.after_hours import within_desk_hours
from assistant.db.migrate import upgrade
from assistant.db.models import Handoff
from assistant.db.session import make_engine, session_scope
from assistant.handoff import TIMEOUT_TEXT, HandoffService
from tests.postgres import POSTGRES_URL, unavailable

#: Monday 8 December 2026, 09:00 in Vietnam (02:00 UTC): desk hours.
MONDAY_9AM = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)
#: Monday 8 December 2026, 20:00 in Vietnam: out of hours.
MONDAY_8PM = datetime(2026, 12, 7, 13, 0, tzinfo=timezone.utc)


class Tracker:
    """What HandoffService reads of a Rasa tracker."""

    def __init__(self, sender_id: str) -> None:
        self.sender_id = sender_id
        self.events: list[Any] = []

    def get_slot(self, _name: str) -> Any:
        return None


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def service(engine: Engine, clock: Clock, **kwargs: Any) -> HandoffService:
    options: dict[str, Any] = {
        "desk_hours": "mon-fri 07:30-11:30,13:30-17:00",
        "timeout_minutes": 15,
        "hours_text": "giờ hành chính",
    }
    options.update(kwargs)
    return HandoffService(engine, clock=clock, **options)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (MONDAY_9AM, True),
        (MONDAY_8PM, False),
        (MONDAY_9AM + timedelta(days=5), False),
        (MONDAY_9AM + timedelta(hours=3), False),
    ],
)
def test_handoff_within_desk_hours_in_vietnam_time(now: datetime, expected: bool) -> None:
    assert within_desk_hours("mon-fri 07:30-11:30,13:30-17:00", now) is expected
    assert within_desk_hours("", now) is True


def test_handoff_in_hours_holds_and_tells_queue_position(migrated_engine: Engine) -> None:
    handoffs = service(migrated_engine, Clock(MONDAY_9AM))
    first = handoffs.create(Tracker("web:a"), "web")
    second = handoffs.create(Tracker("web:b"), "web")
    assert handoffs.created_notices(second) == [{"text": "Bạn đang ở vị trí số 2 trong hàng chờ gặp cán bộ."}]
    assert asyncio.run(handoffs.gate("web:b", "alo")).hold is True
    assert asyncio.run(handoffs.gate("web:c", "alo")).hold is False  # no hand-off: the bot answers
    handoffs.claim(first, "canbo1")
    assert handoffs.queue_position(second) == 1


def test_handoff_times_out_without_staff_action(migrated_engine: Engine) -> None:
    clock = Clock(MONDAY_9AM)
    handoffs = service(migrated_engine, clock)
    handoff_id = handoffs.create(Tracker("web:a"), "web")
    clock.now += timedelta(minutes=10)
    handoffs.claim(handoff_id, "canbo1")  # a staff action restarts the clock
    clock.now += timedelta(minutes=14)
    assert asyncio.run(handoffs.gate("web:a", "còn ai không")).hold is True
    assert handoffs.expire_stale() == []
    clock.now += timedelta(minutes=2)
    gate = asyncio.run(handoffs.gate("web:a", "còn ai không"))
    assert (gate.hold, gate.replies) == (False, [{"text": TIMEOUT_TEXT}])
    assert asyncio.run(handoffs.is_paused("web:a")) is False
    with session_scope(migrated_engine) as session:
        assert session.get(Handoff, handoff_id).closed_reason == "timeout"


def test_handoff_worker_expires_stale_once(migrated_engine: Engine) -> None:
    clock = Clock(MONDAY_9AM)
    handoffs = service(migrated_engine, clock)
    handoffs.create(Tracker("zalo:1"), "zalo")
    clock.now += timedelta(minutes=16)
    assert [h.sender_id for h in handoffs.expire_stale()] == ["zalo:1"]
    assert handoffs.expire_stale() == []


def test_handoff_out_of_hours_collects_contact_with_consent_masked_in_logs(
    migrated_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    handoffs = service(migrated_engine, Clock(MONDAY_8PM))
    handoff_id = handoffs.create(Tracker("web:a"), "web")
    [ask] = handoffs.created_notices(handoff_id)
    assert "ngoài giờ làm việc" in ask["text"] and [b["payload"] for b in ask["buttons"]] == ["/affirm", "/deny"]
    assert asyncio.run(handoffs.is_paused("web:a")) is False  # nobody at the desk: the widget is not told to wait
    assert "Mời bạn nhập" in asyncio.run(handoffs.gate("web:a", "/affirm")).replies[0]["text"]
    again = asyncio.run(handoffs.gate("web:a", "để mai"))
    assert again.hold and "chưa nhận ra" in again.replies[0]["text"]
    with caplog.at_level(logging.INFO, logger="assistant.handoff"):
        from assistant.logs import PIIMaskingFilter

        logging.getLogger("assistant.handoff").addFilter(PIIMaskingFilter())
        saved = asyncio.run(handoffs.gate("web:a", "số em là 0912 345 678 ạ"))
    assert "091****678" in saved.replies[0]["text"] and "0912345678" not in caplog.text
    with session_scope(migrated_engine) as session:
        assert session.get(Handoff, handoff_id).callback_contact == "0912345678"
    assert asyncio.run(handoffs.gate("web:a", "làm hộ chiếu")).hold is False  # the bot answers meanwhile


def test_handoff_out_of_hours_declined_keeps_nothing(migrated_engine: Engine) -> None:
    handoffs = service(migrated_engine, Clock(MONDAY_8PM))
    handoff_id = handoffs.create(Tracker("web:a"), "web")
    assert asyncio.run(handoffs.gate("web:a", "không")).hold is True
    with session_scope(migrated_engine) as session:
        row = session.get(Handoff, handoff_id)
        assert (row.status, row.callback_contact) == ("closed", None)
    assert asyncio.run(handoffs.gate("web:a", "làm hộ chiếu")).hold is False


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL schema; skipped (failed under CI=true) when no server answers."""
    try:
        admin = make_engine(POSTGRES_URL)
        schema = f"test_{uuid.uuid4().hex[:12]}"
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except (OperationalError, ImportError) as e:
        unavailable(f"PostgreSQL not reachable at {POSTGRES_URL}: {e}")
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    upgrade(url)
    try:
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_handoff_two_officers_cannot_both_claim(postgres_url: str) -> None:
    """Two processes (two engines, two sessions) claim the same hand-off at once: exactly one holds it."""
    engines = [make_engine(postgres_url), make_engine(postgres_url)]
    try:
        clock = Clock(MONDAY_9AM)
        handoff_id = service(engines[0], clock).create(Tracker("web:a"), "web")
        for _round in range(5):
            with session_scope(engines[0]) as session:
                session.execute(
                    text("UPDATE handoffs SET status='open', assigned_to=NULL WHERE id=:id"), {"id": handoff_id}
                )
            barrier = threading.Barrier(2)
            results: dict[str, bool] = {}

            def claim(
                index: int, name: str, barrier: threading.Barrier = barrier, results: dict[str, bool] = results
            ) -> None:
                barrier.wait()
                results[name] = service(engines[index], clock).claim(handoff_id, name)[1]

            threads = [threading.Thread(target=claim, args=(i, n)) for i, n in enumerate(["canbo1", "canbo2"])]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(results.values()) == [False, True]
            with session_scope(engines[1]) as session:
                holder = session.get(Handoff, handoff_id).assigned_to
            assert results[holder] is True
            assert service(engines[1], clock).claim(handoff_id, holder)[1] is True  # the holder may claim again
    finally:
        for engine in engines:
            engine.dispose()
