"""How long we keep what citizens told us, and deleting it: ``assistant purge`` and "xóa dữ liệu của tôi".

What is kept: the conversation (Rasa's ``events`` table), hand-offs (with a call-back contact when the citizen
left one), feedback, the outbox of Zalo/Messenger messages and the cases opened at the desk. :func:`purge`
deletes, from all of them, what is older than a cut-off: a conversation whose last event is older (the whole
conversation), hand-offs last changed before it, feedback given before it, delivered or failed outbox rows, desk
cases whose QR code expired before it. :func:`forget_conversation` deletes one
citizen's rows when they ask (the engine deletes their Rasa events).

Example:
    >>> purge(engine, older_than=parse_age("90d"))  # doctest: +SKIP
    PurgeReport(conversations=12, events=640, handoffs=3, feedback=5, outbox=40, desk_cases=2)
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, inspect, or_, text
from sqlalchemy.engine import Engine

from assistant.db.models import DeskCase, Feedback, Handoff, OutboxRow, utcnow
from assistant.db.session import session_scope
from assistant.text.formatting import vn_datetime

__all__ = ["PurgeReport", "forget_conversation", "parse_age", "purge"]

logger = logging.getLogger(__name__)

_AGE = re.compile(r"^\s*(\d+)\s*([dhw]?)\s*$")
_UNITS = {"d": "days", "": "days", "h": "hours", "w": "weeks"}


def parse_age(value: str) -> timedelta:
    """``90d`` (days; ``h`` hours, ``w`` weeks; a bare number is days) as a timedelta.

    Raises:
        ValueError: not such an age, or zero.
    """
    match = _AGE.match(value.lower())
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"not an age like 90d: {value!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass
class PurgeReport:
    """How many rows :func:`purge` deleted."""

    conversations: int = 0
    events: int = 0
    handoffs: int = 0
    feedback: int = 0
    outbox: int = 0
    desk_cases: int = 0


def purge(engine: Engine, *, older_than: timedelta, now: datetime | None = None) -> PurgeReport:
    """Delete conversations, hand-offs, feedback, outbox rows and desk cases older than ``older_than`` (one transaction).

    Args:
        engine: the database (ours and Rasa's tracker store share it).
        older_than: the age past which data is deleted.
        now: the present (tests).
    """
    cutoff = (now or utcnow()) - older_than
    report = PurgeReport()
    has_events = inspect(engine).has_table("events")
    with session_scope(engine) as session:
        if has_events:
            old = "SELECT sender_id FROM events GROUP BY sender_id HAVING MAX(timestamp) < :cutoff"
            params = {"cutoff": cutoff.timestamp()}
            report.conversations = len(session.execute(text(old), params).all())
            report.events = session.execute(text(f"DELETE FROM events WHERE sender_id IN ({old})"), params).rowcount
        report.handoffs = session.execute(delete(Handoff).where(Handoff.updated_at < cutoff)).rowcount
        report.feedback = session.execute(delete(Feedback).where(Feedback.created_at < cutoff)).rowcount
        report.outbox = session.execute(
            delete(OutboxRow).where(OutboxRow.__table__.c.updated_at < cutoff, OutboxRow.__table__.c.status.in_(["done", "failed"]))
        ).rowcount
        report.desk_cases = session.execute(delete(DeskCase).where(DeskCase.expires_at < cutoff)).rowcount
    logger.info("purged data older than %s (Vietnam time): %s", vn_datetime(cutoff), report)
    return report


def forget_conversation(engine: Engine, sender_id: str) -> None:
    """Delete our rows about one conversation: its hand-offs, feedback and outbox messages.

    A platform conversation id may carry its channel (``zalo:123``); outbox rows name the platform's user (``123``).
    """
    prefix, _, rest = sender_id.partition(":")
    user = rest if prefix in ("zalo", "messenger") and rest else sender_id
    with session_scope(engine) as session:
        session.execute(delete(Handoff).where(Handoff.sender_id == sender_id))
        session.execute(delete(Feedback).where(Feedback.sender_id == sender_id))
        session.execute(delete(OutboxRow).where(or_(OutboxRow.recipient == sender_id, OutboxRow.recipient == user)))
