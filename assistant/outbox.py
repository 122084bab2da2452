"""Zalo and Messenger messages that survive faults: accepted events and replies live in the ``outbox`` table.

A webhook stores the citizen's event (``direction='in'``, keyed by the platform's message id, so a redelivered
event is a no-op) before it answers 200, then answers it in a background task: the engine's replies are stored
as one ``out`` row (the platform's message bodies) in the same transaction that marks the event done, and sent.
Sends are retried with exponential backoff (tenacity) on timeouts, connection errors and 5xx, and on Zalo's
expired-token error (-216) after the token is renewed; never on other 4xx or platform errors. A send that still
fails stays pending and :class:`~assistant.outbox_worker.OutboxWorker` tries again later (``next_attempt_at``), as it does for events
accepted before a crash or while the model was loading: after a restart they are answered.

Every change of a row's state is a conditional UPDATE, so several processes can share the table.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import httpx
from fastapi import FastAPI, HTTPException
from sqlalchemy import or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from assistant.channels.common import Refused, Retriable, conversation_id, platform_user_id, recent_ids
from assistant.channels.messenger_send import messenger_messages, post_messenger
from assistant.channels.rest import NO_WORDS_REPLY, handle_text
from assistant.channels.zalo_send import post_zalo, zalo_messages
from assistant.db.models import OutboxRow, utcnow
from assistant.db.session import session_scope
from assistant.replies import Reply
from assistant.settings import Settings

__all__ = [
    "PLATFORMS",
    "accept_event",
    "accept_or_503",
    "answer_event",
    "deliver",
    "due_rows",
    "platform_of",
    "queue_replies",
    "send_replies",
]

logger = logging.getLogger(__name__)

#: A row left ``processing`` this long belongs to a process that died: another may take it.
STALE_AFTER = timedelta(minutes=2)
#: Delivery rounds (each of ``outbox_attempts`` tries) before a message is given up.
MAX_ROUNDS = 8
#: Timeout of each call to a platform's send API.
SEND_TIMEOUT_SECONDS = 10.0
_ROW = OutboxRow.__table__.c


class Platform(NamedTuple):
    """How replies reach one platform: rendered as its message bodies, each posted by its send API."""

    render: Callable[[Reply], list[dict[str, Any]]]
    post: Callable[[FastAPI, httpx.AsyncClient, str, dict[str, Any]], Awaitable[None]]


#: The platforms the outbox sends to, by channel name.
PLATFORMS: dict[str, Platform] = {
    "zalo": Platform(zalo_messages, post_zalo),
    "messenger": Platform(messenger_messages, post_messenger),
}


def platform_of(channel: str) -> str | None:
    """The platform a conversation's channel sends through (``facebook`` is Messenger); None for the others."""
    platform = "messenger" if channel in ("messenger", "facebook") else channel
    return platform if platform in PLATFORMS else None


def render(channel: str, replies: list[Reply]) -> list[dict[str, Any]]:
    """The platform's message bodies for the replies, in order."""
    render_one = PLATFORMS[channel].render
    return [message for reply in replies for message in render_one(reply)]


# --- rows --------------------------------------------------------------------------------------------


def accept_event(
    db: Engine,
    *,
    channel: str,
    key: str | None,
    recipient: str,
    sender_id: str,
    text: str | None,
    metadata: dict[str, Any],
) -> int | None:
    """Store a citizen's platform event before the webhook answers 200.

    Returns:
        The row id, or None when an event with this key was already accepted (a platform redelivery).
    """
    row = OutboxRow(
        key=key,
        direction="in",
        channel=channel,
        recipient=recipient,
        payload={"sender_id": sender_id, "text": text, "metadata": metadata},
        status="pending",
        attempts=0,
        sent=0,
    )
    try:
        with session_scope(db) as session:
            session.add(row)
            session.flush()
            return int(row.id)
    except IntegrityError:
        return None


async def accept_or_503(
    app: FastAPI, channel: str, seen_key: str | None, user_id: str, text: str | None, metadata: dict[str, Any]
) -> int | None:
    """:func:`accept_event` for a webhook: None for a redelivery; 503 (the platform retries) when the database fails."""
    try:
        return await asyncio.to_thread(
            accept_event,
            app.state.db_engine,
            channel=channel,
            key=seen_key,
            recipient=user_id,
            sender_id=conversation_id(channel, user_id),
            text=text,
            metadata=metadata,
        )
    except Exception as e:
        logger.error("%s event could not be stored (%s): the platform will deliver it again", channel, type(e).__name__)
        if seen_key is not None:
            await recent_ids(app).forget(seen_key)
        raise HTTPException(status_code=503, detail="Service Unavailable") from e


def _take(db: Engine, row_id: int) -> OutboxRow | None:
    """Mark a pending (or abandoned) row ``processing`` for this process; None when another has it."""
    now = utcnow()
    with session_scope(db) as session:
        result = session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.id == row_id,
                or_(
                    OutboxRow.status == "pending",
                    (OutboxRow.status == "processing") & (_ROW.updated_at < now - STALE_AFTER),
                ),
            )
            .values(status="processing", updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:
            return None
        row = session.get(OutboxRow, row_id)
        session.expunge(row)
        return row


def _release(db: Engine, row_id: int, *, delay: timedelta | None = None, **values: Any) -> None:
    """Leave a row pending again (after ``delay``) or in the state ``values`` say."""
    now = utcnow()
    values.setdefault("status", "pending")
    with session_scope(db) as session:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id)
            .values(updated_at=now, next_attempt_at=now + (delay or timedelta(0)), **values)
            .execution_options(synchronize_session=False)
        )


async def answer_event(app: FastAPI, row_id: int) -> None:
    """Answer one accepted event: the engine's replies become an ``out`` row, then are delivered. Never raises."""
    db: Engine = app.state.db_engine
    row = _take(db, row_id)
    if row is None:
        return
    payload = dict(row.payload)
    sender_id, text = str(payload.get("sender_id") or row.recipient), payload.get("text")
    try:
        if text is None:
            replies = [Reply(recipient_id=row.recipient, text=NO_WORDS_REPLY)]
        else:
            engine = getattr(app.state, "engine", None)
            if engine is None or not engine.is_ready():
                logger.warning("%s event %s kept for later: the model is not loaded", row.channel, row_id)
                _release(db, row_id)  # the worker tries again on its next round
                return
            replies = await handle_text(engine, sender_id, text, channel=row.channel, metadata=payload.get("metadata"))
        messages = render(row.channel, replies)
    except Exception:  # noqa: BLE001 - kept and tried again later; the platform already has its 200
        logger.exception("%s event %s could not be answered; tried again later", row.channel, row_id)
        _release(db, row_id, delay=timedelta(seconds=30), attempts=row.attempts + 1)
        return
    with session_scope(db) as session:
        out = OutboxRow(
            direction="out",
            channel=row.channel,
            recipient=row.recipient,
            payload={"messages": messages, "event": row_id},
            status="pending",
            attempts=0,
            sent=0,
        )
        session.add(out)
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id)
            .values(status="done", updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        session.flush()
        out_id = int(out.id)
    await deliver(app, out_id)


async def deliver(app: FastAPI, row_id: int) -> bool:
    """Send an ``out`` row's messages not yet sent, each retried with backoff. Never raises.

    Returns:
        True when every message is delivered.
    """
    db: Engine = app.state.db_engine
    settings: Settings = app.state.settings
    row = _take(db, row_id)
    if row is None:
        return False
    messages = list(row.payload.get("messages") or [])
    post = PLATFORMS[row.channel].post
    sent = row.sent
    retrying = AsyncRetrying(
        stop=stop_after_attempt(max(1, settings.outbox_attempts)),
        wait=wait_exponential(multiplier=settings.outbox_retry_seconds, max=30),
        retry=retry_if_exception_type(Retriable),
        reraise=True,
    )
    try:
        async with httpx.AsyncClient(timeout=SEND_TIMEOUT_SECONDS) as client:
            while sent < len(messages):
                async for attempt in retrying:
                    with attempt:
                        await post(app, client, row.recipient, messages[sent])
                sent += 1
                _progress(db, row_id, sent)
    except Retriable as e:
        rounds = row.attempts + 1
        if rounds >= MAX_ROUNDS:
            logger.error("%s send to %s given up after %d rounds: %s", row.channel, row.recipient, rounds, e)
            _release(db, row_id, status="failed", attempts=rounds, sent=sent, last_error=str(e)[:255])
        else:
            delay = timedelta(seconds=min(3600, 30 * 2**rounds))
            logger.warning("%s send to %s failed (%s); again in %s", row.channel, row.recipient, e, delay)
            _release(db, row_id, delay=delay, attempts=rounds, sent=sent, last_error=str(e)[:255])
        return False
    except Exception as e:  # noqa: BLE001 - Refused, or a bug: never retried, logged without tokens
        logger.warning(
            "%s send to %s refused: %s",
            row.channel,
            row.recipient,
            str(e) if isinstance(e, Refused) else type(e).__name__,
        )
        _release(db, row_id, status="failed", attempts=row.attempts + 1, sent=sent, last_error=str(e)[:255])
        return False
    _release(db, row_id, status="done", attempts=row.attempts + 1, sent=sent, last_error=None)
    return True


def queue_replies(db: Engine, channel: str, user_id: str, replies: list[Reply]) -> int:
    """Store replies to a Zalo or Messenger user as one pending ``out`` row; its id.

    Args:
        db: the database.
        channel: ``zalo`` or ``messenger`` (``facebook`` is Messenger).
        user_id: the platform's user id, or the conversation id (``zalo:<id>``).
        replies: what to send, in order.
    """
    platform = platform_of(channel)
    if platform is None:
        raise ValueError(f"not a platform channel: {channel!r}")
    user = platform_user_id(user_id, platform)
    with session_scope(db) as session:
        out = OutboxRow(
            direction="out",
            channel=platform,
            recipient=user,
            payload={"messages": render(platform, replies)},
            status="pending",
            attempts=0,
            sent=0,
        )
        session.add(out)
        session.flush()
        return int(out.id)


async def send_replies(app: FastAPI, channel: str, user_id: str, replies: list[Reply]) -> str:
    """Send replies to a Zalo or Messenger user through the outbox, as the bot's own replies go.

    They are stored first, then sent with retries; a send that still fails stays pending and
    :class:`~assistant.outbox_worker.OutboxWorker` delivers it later (once). Never raises on a platform failure.

    Returns:
        ``"done"`` (the platform accepted every message now), ``"pending"`` (kept: the worker tries again later)
        or ``"failed"`` (refused for good, e.g. a 4xx).
    """
    db: Engine = app.state.db_engine
    row_id = await asyncio.to_thread(queue_replies, db, channel, user_id, replies)
    if await deliver(app, row_id):
        return "done"

    def status_of() -> str:
        with session_scope(db) as session:
            return str(session.execute(select(OutboxRow.status).where(OutboxRow.id == row_id)).scalar_one())

    return await asyncio.to_thread(status_of)


def _progress(db: Engine, row_id: int, sent: int) -> None:
    with session_scope(db) as session:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id)
            .values(sent=sent, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def due_rows(db: Engine, *, now: datetime | None = None, limit: int = 50) -> list[tuple[int, str]]:
    """(id, direction) of rows to work on now: pending and due, or abandoned while processing."""
    now = now or utcnow()
    with session_scope(db) as session:
        rows = session.execute(
            select(OutboxRow.id, OutboxRow.direction)
            .where(
                or_(
                    (OutboxRow.status == "pending") & (_ROW.next_attempt_at <= now),
                    (OutboxRow.status == "processing") & (_ROW.updated_at < now - STALE_AFTER),
                )
            )
            .order_by(OutboxRow.id)
            .limit(limit)
        ).all()
    return [(int(r[0]), str(r[1])) for r in rows]
