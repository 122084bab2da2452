"""Hand-offs to staff and citizen feedback, recorded from what happened in a conversation turn.

Actions do not write to the database: ``action_handoff`` pauses the conversation (Rasa's
``ConversationPaused``) and ``action_save_rating`` sets ``feedback_rating``. After every turn the engine
calls :meth:`HandoffService.after_turn`, which records a :class:`~assistant.db.models.Handoff` (channel,
user, procedure, step, answers, last messages) or a :class:`~assistant.db.models.Feedback` (through
:mod:`assistant.feedback`) from those events, and tells the citizen their place in the queue.

**One source of truth.** Whether a conversation is with staff is the hand-off row, nothing else: before every
message the engine asks :meth:`HandoffService.gate`. An open or claimed ``chat`` hand-off holds the message for
staff (the bot is silent); otherwise the bot answers, and a tracker that Rasa still has paused is resumed on the
way (the engine does that), so a lost ``resume`` can never leave a citizen talking to nobody.

**Timeout.** A chat hand-off expires ``handoff_timeout_minutes`` after it was made or after the last staff
action (claim, reply): the citizen is told and the bot takes over (:meth:`HandoffService.expire_stale`, or at
the citizen's next message).

**Out of desk hours** (``desk_hours``) a hand-off is a ``callback``: the bot asks whether the citizen agrees to
leave a phone number or an e-mail, collects it, confirms it masked, and answers again meanwhile; staff see the
request in the queue and call back (:mod:`assistant.after_hours`).

**Claims** are one conditional UPDATE: an officer takes an open hand-off, or one they already hold; two
officers can never both hold it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Engine

from assistant.after_hours import collect_step, consent_question, contact_saved, parse_desk_hours, within_desk_hours
from assistant.db.models import Handoff, HandoffStatus, utcnow
from assistant.db.raw import parameter_marker, raw_cursor
from assistant.db.session import session_scope
from assistant.feedback import save_comment, save_feedback

logger = logging.getLogger(__name__)
# The tables' columns, for SQL expressions (the models' attributes are annotated with their Python types).
_HANDOFF = Handoff.__table__.c

LAST_MESSAGES = 12
ACTIVE = (HandoffStatus.open.value, HandoffStatus.claimed.value)
QUEUE_TEXT = "Bạn đang ở vị trí số {position} trong hàng chờ gặp cán bộ."
TIMEOUT_TEXT = (
    "Xin lỗi, hiện chưa có cán bộ nào trả lời được bạn. Trợ lý ảo tiếp tục hỗ trợ bạn; "
    "bạn có thể bấm “Gặp cán bộ” lần nữa sau ít phút."
)


@dataclass
class Gate:
    """What happens to a citizen's message, decided by the hand-off row before Rasa sees it.

    Attributes:
        hold: True when the bot must not answer (staff have the conversation, or a call-back contact is
            being collected); the message is only recorded.
        replies: messages to send now (``{"text", "buttons"?}``): the collection's prompts when held, a
            timeout notice before the bot's answer when not.
    """

    hold: bool = False
    replies: list[dict[str, Any]] = field(default_factory=list)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back: they are UTC."""
    if value is not None and value.tzinfo is None:
        from datetime import timezone

        return value.replace(tzinfo=timezone.utc)
    return value


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
    """Creates, gates, claims, times out and lists hand-offs; records feedback (:mod:`assistant.feedback`).

    Args:
        engine: our database.
        hours_text: desk hours as told to citizens.
        desk_hours: desk hours, machine-readable (:func:`parse_desk_hours`); empty: always open.
        timeout_minutes: a chat hand-off with no staff action for this long goes back to the bot; 0: never.
        clock: now, timezone-aware (tests pass their own).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        hours_text: str = "",
        desk_hours: str = "",
        timeout_minutes: float = 0.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        marker = parameter_marker(engine)
        active = ", ".join(f"'{status}'" for status in ACTIVE)  # our own enum values, not input
        self._any_active_sql = (
            f"SELECT id FROM {Handoff.__tablename__} WHERE sender_id = {marker} AND status IN ({active}) LIMIT 1"
        )
        self._hours_text = hours_text
        self._desk_hours = desk_hours
        parse_desk_hours(desk_hours)  # refuse a bad setting at start-up
        self._timeout = timedelta(minutes=timeout_minutes) if timeout_minutes > 0 else None
        self._clock = clock

    @classmethod
    def from_settings(cls, engine: Engine, settings: Any) -> HandoffService:
        """The service configured from :class:`~assistant.settings.Settings`."""
        return cls(
            engine,
            hours_text=settings.handoff_hours,
            desk_hours=settings.desk_hours,
            timeout_minutes=settings.handoff_timeout_minutes,
        )

    def _expiry(self, now: datetime) -> datetime | None:
        return now + self._timeout if self._timeout is not None else None

    async def after_turn(self, tracker: Any, channel: str) -> list[dict[str, Any]]:
        """Record a hand-off or a rating that this turn's events asked for.

        Returns:
            Messages for the citizen after the bot's: the queue position, or out of hours the consent question.
        """
        notices: list[dict[str, Any]] = []
        turn = _this_turn(list(tracker.events))
        names = [getattr(e, "type_name", None) for e in turn]
        feedback = [e for e in turn if getattr(e, "key", None) in ("feedback_rating", "feedback_comment")]
        if "pause" in names or feedback:
            # written on worker threads: from a copy, as the next turn may already grow the kept tracker
            tracker = tracker.copy() if hasattr(tracker, "copy") else tracker
        if "pause" in names:
            handoff_id = await asyncio.to_thread(self.create, tracker, channel)
            notices = await asyncio.to_thread(self.created_notices, handoff_id)
        for event in turn:
            if getattr(event, "type_name", None) != "slot" or not event.value:
                continue
            if event.key == "feedback_rating":
                await asyncio.to_thread(partial(save_feedback, self._engine, tracker, channel, rating=int(event.value)))
            elif event.key == "feedback_comment":
                await asyncio.to_thread(partial(save_comment, self._engine, tracker, channel, comment=str(event.value)))
        return notices

    def create(self, tracker: Any, channel: str) -> int:
        """Store a hand-off for the tracker's conversation and return its id.

        In desk hours it is a ``chat`` hand-off (staff answer; it expires without staff action); outside, a
        ``callback`` whose contact is collected next. An active hand-off of the same conversation is reused.
        """
        now = self._clock()
        step = tracker.get_slot("guide_step")
        in_hours = within_desk_hours(self._desk_hours, now)
        with session_scope(self._engine) as session:
            existing = session.execute(
                select(Handoff).where(Handoff.sender_id == tracker.sender_id, _HANDOFF.status.in_(ACTIVE))
            ).scalar_one_or_none()
            if existing is not None:
                return int(existing.id)
            handoff = Handoff(
                sender_id=tracker.sender_id,
                channel=channel,
                procedure_key=tracker.get_slot("procedure"),
                step=int(step) + 1 if step is not None else None,
                answers=_answers(tracker),
                summary=summarize(tracker),
                last_messages=last_messages(tracker),
                status=HandoffStatus.open.value,
                mode="chat" if in_hours else "callback",
                expires_at=self._expiry(now) if in_hours else None,
                callback_state=None if in_hours else "consent",
                created_at=now,
                updated_at=now,
            )
            session.add(handoff)
            session.flush()
            handoff_id = int(handoff.id)
        logger.info("hand-off %s created for a %s conversation (%s)", handoff_id, channel, handoff.mode)
        return handoff_id

    def created_notices(self, handoff_id: int) -> list[dict[str, Any]]:
        """What the citizen is told once a hand-off is made: queue position, or the call-back consent question."""
        with session_scope(self._engine) as session:
            handoff = session.get(Handoff, handoff_id)
            if handoff is None:
                return []
            if handoff.mode == "callback" and handoff.callback_contact:
                return [contact_saved(handoff.callback_contact)]
            if handoff.mode == "callback":
                return [consent_question(self._hours_text)]
        position = self.queue_position(handoff_id)
        return [{"text": QUEUE_TEXT.format(position=position)}] if position else []

    def queue_position(self, handoff_id: int) -> int | None:
        """1 for the oldest waiting (open, unclaimed) chat hand-off; None when this one is not waiting."""
        with session_scope(self._engine) as session:
            handoff = session.get(Handoff, handoff_id)
            if handoff is None or handoff.status != HandoffStatus.open.value or handoff.mode != "chat":
                return None
            ahead = session.execute(
                select(func.count(Handoff.id)).where(
                    Handoff.status == HandoffStatus.open.value, Handoff.mode == "chat", Handoff.id < handoff_id
                )
            ).scalar_one()
            return int(ahead) + 1

    async def gate(self, sender_id: str, text: str) -> Gate:
        """Decide, from the conversation's active hand-off, whether the bot answers ``text`` (see :class:`Gate`).

        The database is read on a worker thread: a slow database never stalls the event loop.
        """
        return await asyncio.to_thread(self.gate_now, sender_id, text)

    def gate_now(self, sender_id: str, text: str) -> Gate:
        """:meth:`gate`, blocking (on a worker thread)."""
        now = self._clock()
        with raw_cursor(self._engine, read_only=True) as cursor:  # most turns: no hand-off, one plain query
            cursor.execute(self._any_active_sql, (sender_id,))
            if cursor.fetchone() is None:
                return Gate()
        with session_scope(self._engine) as session:
            handoff = session.execute(
                select(Handoff)
                .where(Handoff.sender_id == sender_id, _HANDOFF.status.in_(ACTIVE))
                .order_by(_HANDOFF.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if handoff is None:
                return Gate()
            if handoff.mode == "chat":
                expires = _aware(handoff.expires_at)
                if expires is not None and expires <= now:
                    if self._expire(session, int(handoff.id), now):
                        logger.info("hand-off %s timed out: the bot answers again", handoff.id)
                        return Gate(replies=[{"text": TIMEOUT_TEXT}])
                    return Gate()
                return Gate(hold=True)
            replies = collect_step(handoff, text, hours_text=self._hours_text)
            return Gate() if replies is None else Gate(hold=True, replies=replies)

    def _expire(self, session: Any, handoff_id: int, now: datetime) -> bool:
        """Close one expired chat hand-off, unless staff acted or closed it meanwhile (conditional UPDATE)."""
        result = session.execute(
            update(Handoff)
            .where(
                Handoff.id == handoff_id,
                _HANDOFF.status.in_(ACTIVE),
                Handoff.mode == "chat",
                _HANDOFF.expires_at.is_not(None),
                _HANDOFF.expires_at <= now,
            )
            .values(status=HandoffStatus.closed.value, closed_reason="timeout", updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)

    def expire_stale(self) -> list[Handoff]:
        """Close every chat hand-off whose time ran out; return those this call closed (to tell the citizens)."""
        now = self._clock()
        closed: list[Handoff] = []
        with session_scope(self._engine) as session:
            ids = (
                session.execute(
                    select(Handoff.id).where(
                        _HANDOFF.status.in_(ACTIVE),
                        Handoff.mode == "chat",
                        _HANDOFF.expires_at.is_not(None),
                        _HANDOFF.expires_at <= now,
                    )
                )
                .scalars()
                .all()
            )
        for handoff_id in ids:
            with session_scope(self._engine) as session:
                if self._expire(session, int(handoff_id), now):
                    handoff = session.get(Handoff, handoff_id)
                    session.expunge(handoff)
                    closed.append(handoff)
                    logger.info("hand-off %s timed out: the bot takes over again", handoff_id)
        return closed

    def claim(self, handoff_id: int, username: str) -> tuple[Handoff | None, bool]:
        """Give the hand-off to ``username`` if it is open or already theirs: one conditional UPDATE.

        Two officers claiming at once: the database lets one UPDATE match; the other finds the row claimed
        by someone else and gets False. A claim (and every reply, which claims) restarts the timeout.

        Returns:
            (the hand-off as it now is or None when unknown, whether ``username`` holds it).
        """
        now = self._clock()
        with session_scope(self._engine) as session:
            result = session.execute(
                update(Handoff)
                .where(
                    Handoff.id == handoff_id,
                    or_(
                        Handoff.status == HandoffStatus.open.value,
                        and_(Handoff.status == HandoffStatus.claimed.value, Handoff.assigned_to == username),
                    ),
                )
                .values(
                    status=HandoffStatus.claimed.value,
                    assigned_to=username,
                    expires_at=self._expiry(now),
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            held = bool(result.rowcount)
        with session_scope(self._engine) as session:
            handoff = session.get(Handoff, handoff_id)
            if handoff is not None:
                session.expunge(handoff)
            return handoff, held

    async def is_paused(self, sender_id: str) -> bool:
        """True while staff have the conversation (an open or claimed chat hand-off): the bot is silent."""
        return await asyncio.to_thread(self._is_paused_now, sender_id)

    def _is_paused_now(self, sender_id: str) -> bool:
        with session_scope(self._engine) as session:
            query = (
                select(Handoff.id)
                .where(Handoff.sender_id == sender_id, Handoff.mode == "chat")
                .where(_HANDOFF.status.in_(ACTIVE))
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
            handoff.closed_reason = handoff.closed_reason or "staff"
            if staff:
                handoff.assigned_to = staff
            session.flush()
            session.expunge(handoff)
            return handoff
