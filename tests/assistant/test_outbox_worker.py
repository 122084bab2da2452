"""Tests of assistant/outbox_worker.py: a timed-out hand-off is handed back, and a platform citizen is told so."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from assistant.db.models import Handoff, OutboxRow, utcnow
from assistant.db.session import session_scope
from assistant.handoff import TIMEOUT_TEXT
from assistant.outbox_worker import OutboxWorker
from tests.assistant.channels.fakes import FakePlatform
from tests.assistant.channels.test_zalo import USER
from tests.assistant.test_outbox import OK, zalo_client


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    with FakePlatform(answer=lambda _status: OK) as fake:
        yield fake


@pytest.mark.parametrize(("channel", "sender_id", "told_by_zalo"), [("zalo", f"zalo:{USER}", True), ("rest", "rest:9", False)])
def test_outbox_worker_timed_out_handoff_is_told_on_its_channel(
    tmp_path: Path, platform: FakePlatform, channel: str, sender_id: str, told_by_zalo: bool
) -> None:
    with zalo_client(tmp_path, platform) as client:
        db = client.app.state.db_engine
        with session_scope(db) as session:
            session.add(Handoff(sender_id=sender_id, channel=channel, expires_at=utcnow() - timedelta(minutes=1)))
        client.portal.call(OutboxWorker(client.app).run_once)
        with session_scope(db) as session:
            handoff = session.execute(select(Handoff)).scalar_one()
            assert (handoff.status, handoff.closed_reason) == ("closed", "timeout")
            sent = [(r.channel, r.recipient, r.status) for r in session.execute(select(OutboxRow)).scalars()]
    if told_by_zalo:
        assert sent == [("zalo", USER, "done")]
        assert [r["json"] for r in platform.requests] == [
            {"recipient": {"user_id": USER}, "message": {"text": TIMEOUT_TEXT}}
        ]
    else:
        assert sent == [] and platform.requests == []
