"""The Zalo Official Account channel (OA API v3): ``POST /webhooks/zalo/webhook``.

Zalo posts one event per request. Each request is signed in the ``X-ZEvent-Signature`` header:
``mac=`` + the SHA-256 hex digest of ``app_id + raw body + timestamp + OA secret key``, where the
timestamp is the event's ``timestamp`` field. We check it over the raw bytes, store the event in the outbox
(:mod:`assistant.outbox`), answer 200 and do the work in a background task: the citizen's text (or the payload
of a button they pressed: an ``oa.query.*`` button makes Zalo send its payload back as a ``user_send_text``
event) goes to the engine, and each reply goes back through the "Gửi tin Tư vấn" API as text with its buttons
as a template attachment (:mod:`assistant.channels.zalo_send`).

The channel is off (404) until ``ASSISTANT_ZALO_APP_ID``, ``ASSISTANT_ZALO_OA_SECRET`` and
``ASSISTANT_ZALO_ACCESS_TOKEN`` are all set.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from fastapi.responses import JSONResponse

from assistant.channels.common import as_object, recent_ids, secret
from assistant.outbox import accept_or_503, answer_event
from assistant.settings import Settings

router = APIRouter(tags=["channels"])
logger = logging.getLogger(__name__)


def zalo_settings(request: Request) -> Settings:
    """The settings, or 404 when the Zalo channel is off (its secrets are unset)."""
    settings: Settings = request.app.state.settings
    if not settings.zalo_enabled:
        raise HTTPException(status_code=404, detail="Not Found")
    return settings


def zalo_signature(app_id: str, body: bytes, timestamp: str, oa_secret: str) -> str:
    """The expected ``X-ZEvent-Signature``: ``mac=`` + sha256(app_id + body + timestamp + OA secret)."""
    digest = hashlib.sha256(app_id.encode() + body + timestamp.encode() + oa_secret.encode()).hexdigest()
    return f"mac={digest}"


def zalo_signature_ok(settings: Settings, body: bytes, header: str, timestamps: list[str]) -> bool:
    """Check the signature header (with or without its ``mac=`` prefix) in constant time."""
    given = header.strip().lower()
    if not given:
        return False
    if not given.startswith("mac="):
        given = f"mac={given}"
    ok = False
    for timestamp in timestamps:
        expected = zalo_signature(settings.zalo_app_id or "", body, timestamp, secret(settings.zalo_oa_secret))
        ok |= hmac.compare_digest(expected.encode(), given.encode())
    return ok


@router.post("/webhooks/zalo/webhook")
async def zalo_webhook(request: Request, background: BackgroundTasks) -> JSONResponse:
    """Receive one Zalo OA event: verify, acknowledge, answer in the background.

    Returns:
        200 ``{"status": "ok" | "ignored" | "duplicate"}``; 400 for a body that is not a JSON object;
        403 for a missing or wrong signature; 404 when the channel is off.
    """
    settings = zalo_settings(request)
    raw = await request.body()
    signature = request.headers.get("X-ZEvent-Signature", "")
    if not signature:
        raise HTTPException(status_code=403, detail="Forbidden")
    try:
        event = json.loads(raw)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        raise HTTPException(status_code=400, detail="Yêu cầu không hợp lệ.")
    timestamps = [str(t) for t in (event.get("timestamp"), request.headers.get("X-ZEvent-Timestamp")) if t]
    if not zalo_signature_ok(settings, raw, signature, timestamps):
        logger.warning("Zalo webhook: bad signature")
        raise HTTPException(status_code=403, detail="Forbidden")

    name = str(event.get("event_name") or "")
    message = as_object(event.get("message"))
    sender_id = str(as_object(event.get("sender")).get("id") or "")
    if not name.startswith("user_send_") or not sender_id:
        return JSONResponse({"status": "ignored"})
    text = message.get("text") if isinstance(message.get("text"), str) else None
    if name != "user_send_text" and not text:
        text = None  # image, sticker, audio, ...: a polite "text only" reply, no engine call
    elif text is None:
        text = ""

    msg_id = str(message.get("msg_id") or "")
    seen_key = f"zalo:{msg_id}" if msg_id else None
    if seen_key is not None and not await recent_ids(request.app).first_time(seen_key):
        logger.info("Zalo message %s from %s already processed", msg_id, sender_id)
        return JSONResponse({"status": "duplicate"})
    oa_id = as_object(event.get("recipient")).get("id")
    metadata = {"zalo": {"msg_id": msg_id, "oa_id": oa_id, "timestamp": event.get("timestamp")}}
    # Stored before the 200 (the outbox): answered once, even after a crash, a restart or a redelivery.
    row_id = await accept_or_503(request.app, "zalo", seen_key, sender_id, text, metadata)
    if row_id is None:
        logger.info("Zalo message %s from %s already accepted", msg_id, sender_id)
        return JSONResponse({"status": "duplicate"})
    background.add_task(answer_event, request.app, row_id)
    return JSONResponse({"status": "ok"})
