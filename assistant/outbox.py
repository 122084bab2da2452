"""Zalo and Messenger messages that survive faults: accepted events and replies live in the ``outbox`` table.

A webhook stores the citizen's event (``direction='in'``, keyed by the platform's message id, so a redelivered
event is a no-op) before it answers 200, then answers it in a background task: the engine's replies are stored
as one ``out`` row (the platform's message bodies) in the same transaction that marks the event done, and sent.
Sends are retried with exponential backoff (tenacity) on timeouts, connection errors and 5xx, and on Zalo's
expired-token error (-216) after the token is renewed; never on other 4xx or platform errors. A send that still
fails stays pending and :class:`OutboxWorker` tries again later (``next_attempt_at``), as it does for events
accepted before a crash or while the model was loading: after a restart they are answered.

Every change of a row's state is a conditional UPDATE, so several processes can share the table.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from assistant.db.models import OutboxRow, utcnow
from assistant.db.session import session_scope
from assistant.engine import Reply
from assistant.settings import Settings

__all__ = ["OutboxWorker", "Retriable", "accept_event", "answer_event", "deliver", "queue_replies", "send_replies"]

logger = logging.getLogger(__name__)

#: A row left ``processing`` this long belongs to a process that died: another may take it.
STALE_AFTER = timedelta(minutes=2)
#: Delivery rounds (each of ``outbox_attempts`` tries) before a message is given up.
MAX_ROUNDS = 8
#: Zalo's "access token is invalid or expired".
ZALO_EXPIRED_TOKEN = -216
_ROW = OutboxRow.__table__.c


class Retriable(Exception):
    """A send that may succeed if tried again (timeout, connection error, 5xx, Zalo's expired token)."""


class Refused(Exception):
    """A send the platform refused for good (4xx, platform error code): never retried."""


# --- platforms ---------------------------------------------------------------------------------------


def render(channel: str, replies: list[Reply]) -> list[dict[str, Any]]:
    """The platform's message bodies for the replies, in order."""
    from assistant.channels.messenger import messenger_messages
    from assistant.channels.zalo import zalo_messages

    render_one = zalo_messages if channel == "zalo" else messenger_messages
    return [message for reply in replies for message in render_one(reply)]


def _zalo_tokens(app: FastAPI) -> Any:
    """The renewing Zalo token store (``assistant.channels.zalo_token``) when renewal is configured, else None."""
    try:
        from assistant.channels.zalo_token import current_tokens  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return current_tokens(app.state.settings)


async def _post_zalo(app: FastAPI, client: httpx.AsyncClient, recipient: str, message: dict[str, Any]) -> None:
    from assistant.channels.common import secret

    settings: Settings = app.state.settings
    tokens = _zalo_tokens(app)
    token = tokens.access_token() if tokens is not None else secret(settings.zalo_access_token)
    url = f"{settings.zalo_api_base.rstrip('/')}/v3.0/oa/message/cs"
    body = {"recipient": {"user_id": recipient}, "message": message}
    response = await _post(client, url, json=body, headers={"access_token": token})
    try:
        data = response.json()
    except ValueError:
        data = {}
    code = data.get("error", 0) if isinstance(data, dict) else 0
    if str(code) == str(ZALO_EXPIRED_TOKEN):
        if tokens is None:
            raise Refused(f"Zalo error {code}: access token expired and no renewal configured")
        try:
            await tokens.renew(spent=token)
        except Exception as e:  # noqa: BLE001 - TokenNotRenewed or the OAuth server down: the next round tries again
            raise Retriable(f"Zalo error {code}: access token expired, renewal failed ({type(e).__name__})") from e
        raise Retriable(f"Zalo error {code}: access token expired, renewed")
    if code not in (0, "0", None):
        raise Refused(f"Zalo error {code}")


async def _post_messenger(app: FastAPI, client: httpx.AsyncClient, recipient: str, message: dict[str, Any]) -> None:
    from assistant.channels.common import secret
    from assistant.channels.messenger import redact_httpx_log

    redact_httpx_log()
    settings: Settings = app.state.settings
    url = f"{settings.messenger_api_base.rstrip('/')}/me/messages"
    body = {"recipient": {"id": recipient}, "messaging_type": "RESPONSE", "message": message}
    await _post(client, url, json=body, params={"access_token": secret(settings.messenger_page_token)})


async def _post(client: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
    """POST; a timeout, a connection error or a 5xx is :class:`Retriable`, another 4xx :class:`Refused`."""
    try:
        response = await client.post(url, **kwargs)
    except httpx.HTTPError as e:
        raise Retriable(type(e).__name__) from e
    if response.status_code >= 500:
        raise Retriable(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise Refused(f"HTTP {response.status_code}")
    return response


Post = Callable[[FastAPI, httpx.AsyncClient, str, dict[str, Any]], Awaitable[None]]
POSTS: dict[str, Post] = {"zalo": _post_zalo, "messenger": _post_messenger}


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
    from fastapi import HTTPException

    from assistant.channels.common import recent_ids

    try:
        return await asyncio.to_thread(
            accept_event,
            app.state.db_engine,
            channel=channel,
            key=seen_key,
            recipient=user_id,
            sender_id=_conversation_id(channel, user_id),
            text=text,
            metadata=metadata,
        )
    except Exception as e:
        logger.error("%s event could not be stored (%s): the platform will deliver it again", channel, type(e).__name__)
        if seen_key is not None:
            await recent_ids(app).forget(seen_key)
        raise HTTPException(status_code=503, detail="Service Unavailable") from e


def _conversation_id(channel: str, user_id: str) -> str:
    """The conversation id of a platform user (``zalo:<id>`` once channels are namespaced)."""
    try:
        from assistant.channels.common import conversation_id  # type: ignore[attr-defined]
    except ImportError:
        return user_id
    return str(conversation_id(channel, user_id))


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
    from assistant.channels.rest import NO_WORDS_REPLY, handle_text

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
    post = POSTS[row.channel]
    sent = row.sent
    retrying = AsyncRetrying(
        stop=stop_after_attempt(max(1, settings.outbox_attempts)),
        wait=wait_exponential(multiplier=settings.outbox_retry_seconds, max=30),
        retry=retry_if_exception_type(Retriable),
        reraise=True,
    )
    from assistant.channels.common import SEND_TIMEOUT_SECONDS

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
    from assistant.channels.common import platform_user_id

    platform = "messenger" if channel in ("messenger", "facebook") else channel
    if platform not in POSTS:
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
    :class:`OutboxWorker` delivers it later (once). Never raises on a platform failure.

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


# --- the background worker ---------------------------------------------------------------------------


class OutboxWorker:
    """Runs every ``worker_interval_seconds`` in each process: due outbox rows, then timed-out hand-offs.

    Args:
        app: the application (its ``db_engine``, ``engine``, ``handoffs`` and ``settings``).
    """

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _loop(self) -> None:
        interval = max(0.05, float(self._app.state.settings.worker_interval_seconds))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - the worker outlives a database outage
                logger.exception("outbox worker round failed")

    async def run_once(self) -> None:
        """Answer accepted events, retry due sends, and hand timed-out conversations back to the bot."""
        app = self._app
        for row_id, direction in due_rows(app.state.db_engine):
            if direction == "in":
                await answer_event(app, row_id)
            else:
                await deliver(app, row_id)
        handoffs = getattr(app.state, "handoffs", None)
        if handoffs is not None:
            await tell_timed_out(app, handoffs.expire_stale())


async def tell_timed_out(app: FastAPI, handoffs: list[Any]) -> None:
    """Tell each citizen whose hand-off timed out that the bot takes over (platform: outbox; web: the transcript)."""
    from assistant.handoff import TIMEOUT_TEXT

    engine = getattr(app.state, "engine", None)
    for handoff in handoffs:
        try:
            if engine is not None and engine.is_ready():
                await engine.note(handoff.sender_id, TIMEOUT_TEXT)
            platform = "messenger" if handoff.channel in ("messenger", "facebook") else handoff.channel
            if platform in POSTS:
                user = (
                    handoff.sender_id.split(":", 1)[1]
                    if handoff.sender_id.startswith(f"{platform}:")
                    else handoff.sender_id
                )
                with session_scope(app.state.db_engine) as session:
                    out = OutboxRow(
                        direction="out",
                        channel=platform,
                        recipient=user,
                        payload={"messages": render(platform, [Reply(recipient_id=user, text=TIMEOUT_TEXT)])},
                        status="pending",
                        attempts=0,
                        sent=0,
                    )
                    session.add(out)
                    session.flush()
                    out_id = int(out.id)
                await deliver(app, out_id)
        except Exception:  # noqa: BLE001 - one citizen's notice must not stop the others'
            logger.exception("could not tell conversation %s its hand-off timed out", handoff.sender_id)
