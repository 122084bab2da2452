"""Tests of assistant/feedback.py: ratings and comments recorded after the turn that set them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from assistant.db.models import Feedback
from assistant.db.session import session_scope
from assistant.feedback import save_comment, save_feedback
from assistant.handoff import HandoffService


@dataclass
class Event:
    type_name: str
    key: str | None = None
    value: Any = None


@dataclass
class Tracker:
    sender_id: str
    procedure: str | None = "ho-chieu"
    events: list[Event] = field(default_factory=list)

    def get_slot(self, name: str) -> Any:
        return self.procedure if name == "procedure" else None


def feedback_rows(db: Engine) -> list[tuple[str, str | None, int | None, str | None]]:
    with session_scope(db) as session:
        rows = session.execute(select(Feedback).order_by(Feedback.id)).scalars()
        return [(r.sender_id, r.procedure_key, r.rating, r.comment) for r in rows]


def test_feedback_rating_then_comment_after_turns(migrated_engine: Engine) -> None:
    handoffs = HandoffService(migrated_engine)
    tracker = Tracker("web:a", events=[Event("user"), Event("slot", "feedback_rating", "5")])
    assert asyncio.run(handoffs.after_turn(tracker, "web")) == []
    tracker.events += [Event("user"), Event("slot", "feedback_comment", "Rất nhanh")]
    asyncio.run(handoffs.after_turn(tracker, "web"))
    assert feedback_rows(migrated_engine) == [("web:a", "ho-chieu", 5, "Rất nhanh")]


def test_feedback_rating_out_of_range_is_not_stored(migrated_engine: Engine) -> None:
    save_feedback(migrated_engine, Tracker("web:a"), "web", rating=0)
    save_feedback(migrated_engine, Tracker("web:a"), "web", rating=6)
    assert feedback_rows(migrated_engine) == []


def test_feedback_comment_on_another_procedure_is_stored_alone(migrated_engine: Engine) -> None:
    save_feedback(migrated_engine, Tracker("web:a"), "web", rating=4)
    save_comment(migrated_engine, Tracker("web:a", procedure="doi-gplx"), "web", comment="x" * 2500)
    assert feedback_rows(migrated_engine) == [("web:a", "ho-chieu", 4, None), ("web:a", "doi-gplx", None, "x" * 2000)]
