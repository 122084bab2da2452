"""The Zalo Official Account channel (OA API v3): ``POST /webhooks/zalo/webhook``.

Zalo posts one event per request. Each request is signed in the ``X-ZEvent-Signature`` header:
``mac=`` + the SHA-256 hex digest of ``app_id + raw body + timestamp + OA secret key``, where the
timestamp is the event's ``timestamp`` field. We check it over the raw bytes, answer 200 at once and
do the work in a background task: the citizen's text (or the payload of a button they pressed: an
``oa.query.*`` button makes Zalo send its payload back as a ``user_send_text`` event) goes to the
engine, and each reply goes back through the "Gửi tin Tư vấn" API
(``POST {api_base}/v3.0/oa/message/cs``, header ``access_token``) as text with its buttons as a
template attachment.

The channel is off (404) until ``ASSISTANT_ZALO_APP_ID``, ``ASSISTANT_ZALO_OA_SECRET`` and
``ASSISTANT_ZALO_ACCESS_TOKEN`` are all set.

This module also holds what both platform channels share: :class:`RecentIds` (deduplication of
redelivered events), :func:`split_text` and :func:`drop_unready`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import httpx
from fastapi import APIRouter, BackgroundTasks, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from assistant.channels.common import (
    CHOOSE_TEXT,
    SEND_TIMEOUT_SECONDS,
    as_object,
    conversation_id,
    drop_unready,
    platform_user_id,
    recent_ids,
    secret,
    split_text,
)
from assistant.channels.rest import NO_WORDS_REPLY, handle_text
from assistant.channels.zalo_token import EXPIRED_TOKEN_ERROR, TokenNotRenewed, current_tokens
from assistant.engine import Reply
from assistant.outbox import accept_or_503, answer_event
from assistant.settings import Settings

router = APIRouter(tags=["channels"])
logger = logging.getLogger(__name__)

ZALO_MAX_TEXT = 2000
"""Longest text of one Zalo message; longer replies are split."""

ZALO_MAX_BUTTONS = 5
"""Buttons per Zalo message; more are sent in follow-up messages."""

ZALO_MAX_BUTTON_TITLE = 100
"""Longest Zalo button title."""

ZALO_MAX_PAYLOAD = 1000
"""Longest payload of an ``oa.query.*`` button."""

MORE_CHOICES_TEXT = "Các lựa chọn khác:"
"""Text of a follow-up message carrying buttons beyond the first message's limit."""



# --- Zalo --------------------------------------------------------------------------------------------


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


def zalo_buttons(buttons: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Zalo template buttons: intent payloads (``/start_guide{...}``) are sent back hidden, plain text shown."""
    out = []
    for button in buttons:
        title = str(button.get("title") or "").strip()
        payload = str(button.get("payload") or title).strip()
        if not title or not payload or len(payload) > ZALO_MAX_PAYLOAD:
            continue
        out.append(
            {
                "title": title[:ZALO_MAX_BUTTON_TITLE],
                "type": "oa.query.hide" if payload.startswith("/") else "oa.query.show",
                "payload": payload,
            }
        )
    return out


def zalo_messages(reply: Reply) -> list[dict[str, Any]]:
    """Render one reply as Zalo ``message`` objects: text chunks, buttons on the last, overflow after."""
    buttons = zalo_buttons(reply.buttons)
    texts = split_text(reply.text or "", ZALO_MAX_TEXT) or ([CHOOSE_TEXT] if buttons else [])
    messages: list[dict[str, Any]] = [{"text": t} for t in texts]
    groups = [buttons[i : i + ZALO_MAX_BUTTONS] for i in range(0, len(buttons), ZALO_MAX_BUTTONS)]
    for i, group in enumerate(groups):
        attachment = {"type": "template", "payload": {"buttons": group}}
        if i == 0:
            messages[-1]["attachment"] = attachment
        else:
            messages.append({"text": MORE_CHOICES_TEXT, "attachment": attachment})
    return messages


async def send_zalo(settings: Settings, user_id: str, replies: list[Reply]) -> bool:
    """Send the replies in order through the "Gửi tin Tư vấn" API; stop at the first failure (logged).

    ``user_id`` is the Zalo user id, or the conversation id ``zalo:<user id>``; replies go to that user only.

    The access token comes from the app's :class:`~assistant.channels.zalo_token.ZaloTokens` when there is
    one; when Zalo answers that it has expired (-216), it is renewed and the message sent again, once.

    Returns:
        True when Zalo accepted every message; False after an HTTP error, a timeout or a Zalo error code.
    """
    url = f"{settings.zalo_api_base.rstrip('/')}/v3.0/oa/message/cs"
    tokens = current_tokens(settings)
    token = tokens.access_token() if tokens is not None else secret(settings.zalo_access_token)
    user_id = platform_user_id(user_id, "zalo")
    async with httpx.AsyncClient(timeout=SEND_TIMEOUT_SECONDS) as client:
        for reply in replies:
            for message in zalo_messages(reply):
                body = {"recipient": {"user_id": user_id}, "message": message}
                for attempt in range(2):
                    try:
                        response = await client.post(url, json=body, headers={"access_token": token})
                    except httpx.HTTPError as e:
                        logger.warning("Zalo send to %s failed: %s", user_id, type(e).__name__)
                        return False
                    if attempt == 0 and tokens is not None and zalo_error_code(response) == EXPIRED_TOKEN_ERROR:
                        try:
                            token = await tokens.renew(spent=token)
                        except TokenNotRenewed:
                            break  # logged by the renewal; the error below is logged too
                        continue
                    break
                error = zalo_error(response)
                if error is not None:
                    logger.warning("Zalo send to %s failed: %s", user_id, error)
                    return False
    return True


def zalo_error_code(response: httpx.Response) -> int | None:
    """Zalo's numeric ``error`` in a JSON answer (0 on success), or None."""
    try:
        data = response.json()
        return int(data.get("error", 0)) if isinstance(data, dict) else None
    except (ValueError, TypeError):
        return None


def zalo_error(response: httpx.Response) -> str | None:
    """None when Zalo accepted the message, else a short description (HTTP status or Zalo error code)."""
    if response.status_code >= 400:
        return f"HTTP {response.status_code}"
    try:
        data = response.json()
    except ValueError:
        return f"HTTP {response.status_code}, body is not JSON"
    code = data.get("error", 0) if isinstance(data, dict) else 0
    if code not in (0, "0", None):
        return f"Zalo error {code}: {data.get('message', '')}"
    return None


async def process_zalo_event(
    app: FastAPI, sender_id: str, text: str | None, metadata: dict[str, Any], seen_key: str | None
) -> None:
    """Answer one citizen message (background task): engine, then the send API. Never raises."""
    settings: Settings = app.state.settings
    try:
        if text is None:
            replies = [Reply(recipient_id=sender_id, text=NO_WORDS_REPLY)]
        else:
            if await drop_unready(app, seen_key, sender_id, "Zalo"):
                return
            conversation = conversation_id("zalo", sender_id)
            replies = await handle_text(app.state.engine, conversation, text, channel="zalo", metadata=metadata)
        await send_zalo(settings, sender_id, replies)
    except Exception:  # noqa: BLE001 - a background task must not crash; Zalo already has its 200
        logger.exception("Zalo message from %s could not be answered", sender_id)


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
