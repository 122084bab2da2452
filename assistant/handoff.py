"""Hand-offs to staff and citizen feedback, recorded from what happened in a conversation turn.

Actions do not write to the database: ``action_handoff`` pauses the conversation (Rasa's
``ConversationPaused``) and ``action_save_rating`` sets ``feedback_rating``. After every turn the engine
calls :meth:`HandoffService.after_turn`, which records a :class:`~assistant.db.models.Handoff` (channel,
user, procedure, step, answers, last messages) or a :class:`~assistant.db.models.Feedback` from those
events. Staff hand a conversation back with :meth:`HandoffService.close` plus ``engine.resume``.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from assistant.db.models import Feedback, Handoff, HandoffStatus
from assistant.db.session import session_scope

logger = logging.getLogger(__name__)
# The tables' columns, for SQL expressions (the models' attributes are annotated with their Python types).
_FEEDBACK = Feedback.__table__.c
_HANDOFF = Handoff.__table__.c

LAST_MESSAGES = 12


def _this_turn(events: list[Any]) -> list[Any]:
    """The events since the latest user message (inclusive)."""
    for i in range(len(events) - 1, -1, -1):
        if getattr(events[i], "type_name", None) == "user":
            return events[i:]
    return []


def last_messages(tracker: Any, *, limit: int = LAST_MESSAGES) -> list[dict[str, str]]:
    """The conversation's last user and bot messages, oldest first."""
    out: list[dict[str, str]] = []
    for event in tracker.events:
        kind = getattr(event, "type_name", None)
        if kind == "user" and event.text:
            out.append({"from": "citizen", "text": event.text})
        elif kind == "bot" and event.text:
            out.append({"from": "bot", "text": event.text})
    return out[-limit:]


def _answers(tracker: Any) -> dict[str, Any]:
    answers = tracker.get_slot("guide_answers") or {}
    return dict(answers) if isinstance(answers, dict) else {}


def summarize(tracker: Any) -> str:
    """One line for the staff queue: procedure, step and answers."""
    procedure = tracker.get_slot("procedure")
    step = tracker.get_slot("guide_step")
    parts = [f"Thủ tục: {procedure}" if procedure else "Chưa xác định thủ tục"]
    if step is not None:
        parts.append(f"đang ở bước {int(step) + 1}")
    answers = _answers(tracker)
    if answers:
        parts.append("trả lời: " + ", ".join(f"{k}={v}" for k, v in answers.items()))
    return "; ".join(parts)


class HandoffService:
    """Creates and lists hand-offs and feedback in our database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def after_turn(self, tracker: Any, channel: str) -> None:
        """Record a hand-off or a rating that this turn's events asked for."""
        turn = _this_turn(list(tracker.events))
        names = [getattr(e, "type_name", None) for e in turn]
        if "pause" in names:
            self.create(tracker, channel)
        for event in turn:
            if getattr(event, "type_name", None) != "slot" or not event.value:
                continue
            if event.key == "feedback_rating":
                self.save_feedback(tracker, channel, rating=int(event.value))
            elif event.key == "feedback_comment":
                self.save_comment(tracker, channel, comment=str(event.value))

    def create(self, tracker: Any, channel: str) -> int:
        """Store a hand-off for the tracker's conversation and return its id."""
        step = tracker.get_slot("guide_step")
        with session_scope(self._engine) as session:
            handoff = Handoff(
                sender_id=tracker.sender_id,
                channel=channel,
                procedure_key=tracker.get_slot("procedure"),
                step=int(step) + 1 if step is not None else None,
                answers=_answers(tracker),
                summary=summarize(tracker),
                last_messages=last_messages(tracker),
                status=HandoffStatus.open.value,
            )
            session.add(handoff)
            session.flush()
            handoff_id = int(handoff.id)
        logger.info("hand-off %s created for a %s conversation", handoff_id, channel)
        return handoff_id

    def save_feedback(self, tracker: Any, channel: str, *, rating: int, comment: str | None = None) -> None:
        """Store a 1–5 rating for the conversation's procedure."""
        if not 1 <= rating <= 5:
            return
        with session_scope(self._engine) as session:
            session.add(
                Feedback(
                    sender_id=tracker.sender_id,
                    channel=channel,
                    procedure_key=tracker.get_slot("procedure"),
                    rating=rating,
                    comment=comment,
                )
            )

    def save_comment(self, tracker: Any, channel: str, *, comment: str) -> None:
        """Attach a comment to the conversation's latest rating of this procedure, or store it alone."""
        procedure = tracker.get_slot("procedure")
        with session_scope(self._engine) as session:
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

    async def is_paused(self, sender_id: str) -> bool:
        """True while the conversation has an open or claimed hand-off."""
        with session_scope(self._engine) as session:
            query = (
                select(Handoff.id)
                .where(Handoff.sender_id == sender_id)
                .where(_HANDOFF.status.in_([HandoffStatus.open.value, HandoffStatus.claimed.value]))
                .limit(1)
            )
            return session.execute(query).first() is not None

    def list(self, *, status: str | None = None) -> list[Handoff]:
        """Hand-offs, newest first, optionally of one status."""
        with session_scope(self._engine) as session:
            query = select(Handoff).order_by(_HANDOFF.created_at.desc())
            if status:
                query = query.where(Handoff.status == status)
            rows = list(session.execute(query).scalars())
            session.expunge_all()
            return rows

    def close(self, handoff_id: int, *, staff: str | None = None) -> Handoff | None:
        """Mark a hand-off closed (the caller resumes the conversation)."""
        with session_scope(self._engine) as session:
            handoff = session.get(Handoff, handoff_id)
            if handoff is None:
                return None
            handoff.status = HandoffStatus.closed.value
            if staff:
                handoff.assigned_to = staff
            session.flush()
            session.expunge(handoff)
            return handoff
