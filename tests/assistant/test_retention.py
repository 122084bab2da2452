"""``assistant purge --older-than 90d``: what is older goes, what is recent stays, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from sqlalchemy import select

from assistant.db.migrate import upgrade
from assistant.db.models import DeskCase, Feedback, Handoff, OutboxRow, utcnow
from assistant.db.session import make_engine, session_scope
from assistant.retention import forget_conversation, parse_age
from tests.postgres import throwaway_database

ROOT = Path(__file__).resolve().parents[2]
OLD = timedelta(days=100)
RECENT = timedelta(days=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database with Rasa's ``events`` table beside ours."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/retention.db"
        yield prepared(url)
    else:
        with throwaway_database() as url:
            yield prepared(url)


def prepared(url: str) -> str:
    engine = make_engine(url)
    upgrade(engine)
    SQLTrackerStore.Base.metadata.create_all(engine)
    engine.dispose()
    return url


def event(sender_id: str, at: datetime) -> SQLTrackerStore.SQLEvent:
    return SQLTrackerStore.SQLEvent(sender_id=sender_id, type_name="user", timestamp=at.timestamp(), data="{}")


def fill(url: str, now: datetime) -> None:
    """Old and recent rows of every kind the purge deletes."""
    old, recent = now - OLD, now - RECENT
    engine = make_engine(url)
    with session_scope(engine) as session:
        session.add_all([event("rest:old", old), event("rest:old", old + timedelta(minutes=5))])
        # a conversation that began long ago but went on recently is kept whole
        session.add_all([event("rest:ongoing", old), event("rest:ongoing", recent)])
        session.add(event("rest:recent", recent))
        for sender, at in (("rest:old", old), ("rest:recent", recent)):
            session.add(Handoff(sender_id=sender, channel="rest", created_at=at, updated_at=at))
            session.add(Feedback(sender_id=sender, channel="rest", rating=5, created_at=at))
        for key, status, at in (("old-done", "done", old), ("old-pending", "pending", old), ("new-done", "done", recent)):
            session.add(
                OutboxRow(key=key, direction="out", channel="zalo", recipient="123", status=status, created_at=at, updated_at=at)
            )
        # a desk case's code stays valid a week: one that expired long ago goes, a recent one stays
        for key, expires in (("ho-chieu", old + timedelta(days=7)), ("cccd", recent + timedelta(days=7))):
            session.add(DeskCase(procedure_key=key, answers={}, officer="canbo", created_at=expires, expires_at=expires))
    engine.dispose()


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ASSISTANT_DATABASE_URL": url, "RASA_TELEMETRY_ENABLED": "false"}
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_purge_cli_deletes_old_rows_and_keeps_recent_ones(database_url: str) -> None:
    fill(database_url, utcnow())
    result = cli(database_url, "purge", "--older-than", "90d")
    assert result.returncode == 0, result.stderr
    assert "deleted 1 conversations (2 events), 1 hand-offs, 1 feedback, 1 outbox messages, 1 desk cases" in result.stdout
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        senders = session.execute(select(SQLTrackerStore.SQLEvent.sender_id)).scalars().all()
        assert sorted(senders) == ["rest:ongoing", "rest:ongoing", "rest:recent"]
        assert session.execute(select(Handoff.sender_id)).scalars().all() == ["rest:recent"]
        assert session.execute(select(Feedback.sender_id)).scalars().all() == ["rest:recent"]
        # an old message still waiting to be delivered is not thrown away
        assert sorted(session.execute(select(OutboxRow.key)).scalars().all()) == ["new-done", "old-pending"]
        assert session.execute(select(DeskCase.procedure_key)).scalars().all() == ["cccd"]
    engine.dispose()


@pytest.mark.parametrize("age", ["0d", "ninety days", "-5d", "3m"])
def test_purge_cli_refuses_an_age_it_cannot_read(tmp_path: Path, age: str) -> None:
    url = prepared(f"sqlite:///{tmp_path}/retention.db")
    fill(url, utcnow())
    result = cli(url, "purge", f"--older-than={age}")
    assert result.returncode == 2 and "not an age like 90d" in result.stderr
    engine = make_engine(url)
    with session_scope(engine) as session:
        assert len(session.execute(select(Handoff.id)).all()) == 2  # nothing deleted
    engine.dispose()


@pytest.mark.parametrize(("age", "expected"), [("90d", timedelta(days=90)), ("90", timedelta(days=90)), ("12w", timedelta(weeks=12)), ("48h", timedelta(hours=48))])
def test_purge_age_units(age: str, expected: timedelta) -> None:
    assert parse_age(age) == expected


def test_forget_conversation_deletes_only_that_citizens_rows(database_url: str) -> None:
    fill(database_url, utcnow())
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        session.add(OutboxRow(key="zalo-1", direction="out", channel="zalo", recipient="777", status="pending"))
    forget_conversation(engine, "zalo:777")
    forget_conversation(engine, "rest:old")
    with session_scope(engine) as session:
        assert session.execute(select(Handoff.sender_id)).scalars().all() == ["rest:recent"]
        assert session.execute(select(Feedback.sender_id)).scalars().all() == ["rest:recent"]
        assert "zalo-1" not in session.execute(select(OutboxRow.key)).scalars().all()
    engine.dispose()
