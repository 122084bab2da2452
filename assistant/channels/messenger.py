"""The Facebook Messenger channel: ``GET/POST /webhooks/facebook/webhook``.

``GET`` is Meta's verification handshake (``hub.mode=subscribe``, ``hub.verify_token``,
``hub.challenge``). ``POST`` carries page events, signed in ``X-Hub-Signature-256``
(``sha256=`` + HMAC-SHA256 of the raw body with the app secret). We check it over the raw bytes, store each
event in the outbox (:mod:`assistant.outbox`), answer 200 and work in a background task: each
``entry[].messaging[]`` event with text, a quick-reply payload or a postback payload goes to the engine, and
each reply goes back through the Send API as text with its buttons as quick replies
(:mod:`assistant.channels.messenger_send`).

The channel is off (404) until ``ASSISTANT_MESSENGER_VERIFY_TOKEN``, ``ASSISTANT_MESSENGER_APP_SECRET``
and ``ASSISTANT_MESSENGER_PAGE_TOKEN`` are all set.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from assistant.channels.common import recent_ids, secret
from assistant.outbox import accept_or_503, answer_event
from assistant.settings import Settings

router = APIRouter(tags=["channels"])
logger = logging.getLogger(__name__)


def messenger_settings(request: Request) -> Settings:
    """The settings, or 404 when the Messenger channel is off (its secrets are unset)."""
    settings: Settings = request.app.state.settings
    if not settings.messenger_enabled:
        raise HTTPException(status_code=404, detail="Not Found")
    return settings


def messenger_signature(app_secret: str, body: bytes) -> str:
    """The expected ``X-Hub-Signature-256``: ``sha256=`` + HMAC-SHA256(app secret, raw body) in hex."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


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
