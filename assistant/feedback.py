"""Citizens' ratings (1–5) and comments, recorded after the turn that set them (``feedback_rating``, ``feedback_comment``).

:meth:`assistant.handoff.HandoffService.after_turn` calls these on a worker thread; the staff console's analytics
read them (:mod:`assistant.analytics`), and the retention purge deletes them (:mod:`assistant.retention`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from assistant.db.models import Feedback
from assistant.db.session import session_scope

__all__ = ["save_comment", "save_feedback"]

# The table's columns, for SQL expressions (the model's attributes are annotated with their Python types).
_FEEDBACK = Feedback.__table__.c


def save_feedback(db: Engine, tracker: Any, channel: str, *, rating: int, comment: str | None = None) -> None:
    """Store a 1–5 rating for the conversation's procedure."""
    if not 1 <= rating <= 5:
        return
    with session_scope(db) as session:
        session.add(
            Feedback(
                sender_id=tracker.sender_id,
                channel=channel,
                procedure_key=tracker.get_slot("procedure"),
                rating=rating,
                comment=comment,
            )
        )


def save_comment(db: Engine, tracker: Any, channel: str, *, comment: str) -> None:
    """Attach a comment to the conversation's latest rating of this procedure, or store it alone."""
    procedure = tracker.get_slot("procedure")
    with session_scope(db) as session:
        latest = session.execute(
            select(Feedback)
            .where(Feedback.sender_id == tracker.sender_id, _FEEDBACK.comment.is_(None))
            .order_by(_FEEDBACK.created_at.desc(), _FEEDBACK.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if latest is not None and latest.procedure_key == procedure:
            latest.comment = comment[:2000]
            return
        session.add(
            Feedback(sender_id=tracker.sender_id, channel=channel, procedure_key=procedure, comment=comment[:2000])
        )
