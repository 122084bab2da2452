"""The Facebook Messenger channel: ``GET/POST /webhooks/facebook/webhook``.

``GET`` is Meta's verification handshake (``hub.mode=subscribe``, ``hub.verify_token``,
``hub.challenge``). ``POST`` carries page events, signed in ``X-Hub-Signature-256``
(``sha256=`` + HMAC-SHA256 of the raw body with the app secret). We check it over the raw bytes,
answer 200 at once and work in a background task: each ``entry[].messaging[]`` event with text, a
quick-reply payload or a postback payload goes to the engine, and each reply goes back through the
Send API (``POST {api_base}/me/messages?access_token=…``) as text with its buttons as quick replies
(at most 13, titles cut to 20 characters).

The channel is off (404) until ``ASSISTANT_MESSENGER_VERIFY_TOKEN``, ``ASSISTANT_MESSENGER_APP_SECRET``
and ``ASSISTANT_MESSENGER_PAGE_TOKEN`` are all set.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from typing import Any

import httpx
from fastapi import APIRouter, BackgroundTasks, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from assistant.channels.common import (
    CHOOSE_TEXT,
    SEND_TIMEOUT_SECONDS,
    conversation_id,
    drop_unready,
    platform_user_id,
    recent_ids,
    secret,
    split_text,
)
from assistant.channels.rest import NO_WORDS_REPLY, handle_text
from assistant.engine import Reply
from assistant.outbox import accept_or_503, answer_event
from assistant.settings import Settings

router = APIRouter(tags=["channels"])
logger = logging.getLogger(__name__)

MESSENGER_MAX_TEXT = 2000
"""Longest text of one Messenger message; longer replies are split."""

MESSENGER_MAX_QUICK_REPLIES = 13
"""Quick replies per message (Messenger's limit; only the last message's stay visible)."""

MESSENGER_MAX_TITLE = 20
"""Longest quick-reply title."""

MESSENGER_MAX_PAYLOAD = 1000
"""Longest quick-reply payload."""


class RedactAccessToken(logging.Filter):
    """Masks ``access_token=…`` in records, e.g. httpx's ``HTTP Request: POST …?access_token=…`` line."""

    _TOKEN = re.compile(r"(access_token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - leave a broken record to the handlers
            return True
        redacted = self._TOKEN.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact_httpx_log() -> None:
    """Make httpx's request log line (INFO, full URL) never show the page token; idempotent."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactAccessToken) for f in httpx_logger.filters):
        httpx_logger.addFilter(RedactAccessToken())


def messenger_settings(request: Request) -> Settings:
    """The settings, or 404 when the Messenger channel is off (its secrets are unset)."""
    settings: Settings = request.app.state.settings
    if not settings.messenger_enabled:
        raise HTTPException(status_code=404, detail="Not Found")
    return settings


def messenger_signature(app_secret: str, body: bytes) -> str:
    """The expected ``X-Hub-Signature-256``: ``sha256=`` + HMAC-SHA256(app secret, raw body) in hex."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def quick_replies(buttons: list[dict[str, str]]) -> list[dict[str, str]]:
    """Messenger quick replies from our buttons: at most 13, titles cut to 20 characters."""
    out = []
    for button in buttons:
        title = str(button.get("title") or "").strip()
        payload = str(button.get("payload") or title).strip()
        if not title or not payload or len(payload) > MESSENGER_MAX_PAYLOAD:
            continue
        if len(title) > MESSENGER_MAX_TITLE:
            title = title[: MESSENGER_MAX_TITLE - 1].rstrip() + "…"
        out.append({"content_type": "text", "title": title, "payload": payload})
    if len(out) > MESSENGER_MAX_QUICK_REPLIES:
        logger.warning("%d buttons, Messenger shows %d", len(out), MESSENGER_MAX_QUICK_REPLIES)
    return out[:MESSENGER_MAX_QUICK_REPLIES]


def messenger_messages(reply: Reply) -> list[dict[str, Any]]:
    """Render one reply as Send API ``message`` objects: text chunks, quick replies on the last."""
    replies = quick_replies(reply.buttons)
    texts = split_text(reply.text or "", MESSENGER_MAX_TEXT) or ([CHOOSE_TEXT] if replies else [])
    messages: list[dict[str, Any]] = [{"text": t} for t in texts]
    if replies:
        messages[-1]["quick_replies"] = replies
    return messages


async def send_messenger(settings: Settings, psid: str, replies: list[Reply]) -> bool:
    """Send the replies in order through the Send API; stop at the first failure (logged).

    Returns:
        True when the Send API accepted every message; False after an HTTP error, a timeout or a Graph API error.
    """
    redact_httpx_log()
    psid = platform_user_id(psid, "messenger")
    url = f"{settings.messenger_api_base.rstrip('/')}/me/messages"
    params = {"access_token": secret(settings.messenger_page_token)}
    async with httpx.AsyncClient(timeout=SEND_TIMEOUT_SECONDS) as client:
        for reply in replies:
            for message in messenger_messages(reply):
                body = {
                    "recipient": {"id": psid},
                    "messaging_type": "RESPONSE",
                    "message": message,
                }
                try:
                    response = await client.post(url, params=params, json=body)
                except httpx.HTTPError as e:
                    logger.warning("Messenger send to %s failed: %s", psid, type(e).__name__)
                    return False
                if response.status_code >= 400:
                    logger.warning("Messenger send to %s failed: %s", psid, messenger_error(response))
                    return False
    return True


def messenger_error(response: httpx.Response) -> str:
    """HTTP status plus the Graph API error code and type (never the message, which may echo input)."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    return f"HTTP {response.status_code} code={error.get('code')} type={error.get('type')}"


def event_text(event: dict[str, Any]) -> tuple[str | None, str | None, bool]:
    """What one ``messaging`` event says: (text or payload, message id, relevant?).

    A quick-reply tap or a postback gives its payload (``/start_guide{"procedure": "ho-chieu"}``),
    a typed message its text; a message with only attachments gives None (answered "text only").
    Echoes of our own messages, deliveries, reads and reactions are not relevant.
    """
    postback = event.get("postback")
    if isinstance(postback, dict):
        payload = postback.get("payload") or postback.get("title")
        return (str(payload) if payload else ""), postback.get("mid"), True
    message = event.get("message")
    if not isinstance(message, dict) or message.get("is_echo"):
        return None, None, False
    mid = message.get("mid")
    quick_reply = message.get("quick_reply")
    if isinstance(quick_reply, dict) and quick_reply.get("payload"):
        return str(quick_reply["payload"]), mid, True
    if isinstance(message.get("text"), str):
        return message["text"], mid, True
    if message.get("attachments"):
        return None, mid, True
    return None, None, False


async def process_messenger_events(app: FastAPI, events: list[dict[str, Any]]) -> None:
    """Answer the citizen messages of one delivery, in order (background task). Never raises."""
    settings: Settings = app.state.settings
    for event in events:
        psid = event["sender_id"]
        try:
            if event["text"] is None:
                replies = [Reply(recipient_id=psid, text=NO_WORDS_REPLY)]
            else:
                if await drop_unready(app, event["seen_key"], psid, "Messenger"):
                    continue
                conversation = conversation_id("messenger", psid)
                replies = await handle_text(
                    app.state.engine, conversation, event["text"], channel="messenger", metadata=event["metadata"]
                )
            await send_messenger(settings, psid, replies)
        except Exception:  # noqa: BLE001 - a background task must not crash; Meta already has its 200
            logger.exception("Messenger message from %s could not be answered", psid)


@router.get("/webhooks/facebook/webhook")
async def messenger_verify(request: Request) -> PlainTextResponse:
    """Meta's verification handshake: echo ``hub.challenge`` when the verify token matches, else 403."""
    settings = messenger_settings(request)
    query = request.query_params
    token = query.get("hub.verify_token", "")
    expected = secret(settings.messenger_verify_token)
    if query.get("hub.mode") != "subscribe" or not hmac.compare_digest(token.encode(), expected.encode()):
        logger.warning("Messenger verification refused")
        raise HTTPException(status_code=403, detail="Forbidden")
    return PlainTextResponse(query.get("hub.challenge", ""))


@router.post("/webhooks/facebook/webhook")
async def messenger_webhook(request: Request, background: BackgroundTasks) -> JSONResponse:
    """Receive Messenger page events: verify, acknowledge, answer in the background.

    Returns:
        200 ``{"status": "ok" | "ignored"}``; 400 for a body that is not a JSON object;
        403 for a missing or wrong signature; 404 when the channel is off.
    """
    settings = messenger_settings(request)
    raw = await request.body()
    given = request.headers.get("X-Hub-Signature-256", "").strip()
    expected = messenger_signature(secret(settings.messenger_app_secret), raw)
    if not given or not hmac.compare_digest(given.lower().encode(), expected.encode()):
        logger.warning("Messenger webhook: bad signature")
        raise HTTPException(status_code=403, detail="Forbidden")
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise HTTPException(status_code=400, detail="Yêu cầu không hợp lệ.")
    if body.get("object") != "page" or not isinstance(body.get("entry"), list):
        return JSONResponse({"status": "ignored"})

    seen = recent_ids(request.app)
    events: list[dict[str, Any]] = []
    for entry in body["entry"]:
        messaging = entry.get("messaging") if isinstance(entry, dict) else None
        for event in messaging if isinstance(messaging, list) else []:
            if not isinstance(event, dict) or not isinstance(event.get("sender"), dict):
                continue
            psid = str(event["sender"].get("id") or "")
            text, mid, relevant = event_text(event)
            if not relevant or not psid:
                continue
            seen_key = f"messenger:{mid}" if mid else None
            if seen_key is not None and not await seen.first_time(seen_key):
                logger.info("Messenger message %s from %s already processed", mid, psid)
                continue
            metadata = {"messenger": {"mid": mid, "page_id": entry.get("id"), "timestamp": event.get("timestamp")}}
            # Stored before the 200 (the outbox): answered once, even after a crash, a restart or a redelivery.
            row_id = await accept_or_503(request.app, "messenger", seen_key, psid, text, metadata)
            if row_id is not None:
                events.append({"row_id": row_id})
    if not events:
        return JSONResponse({"status": "ignored"})
    for accepted in events:
        background.add_task(answer_event, request.app, accepted["row_id"])
    return JSONResponse({"status": "ok"})
