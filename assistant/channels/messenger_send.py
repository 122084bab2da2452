"""Our replies as Messenger messages, and one message sent through the Send API.

A reply becomes Send API ``message`` objects (:func:`messenger_messages`): its text in chunks of at most 2000
characters, its buttons as quick replies on the last chunk (at most 13, titles cut to 20 characters).
:func:`post_messenger` sends one of them (``POST {api_base}/me/messages?access_token=…``) for the outbox
(:mod:`assistant.outbox`), which stores, retries and delivers them once; the page token never reaches a log.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
from fastapi import FastAPI

from assistant.channels.common import CHOOSE_TEXT, button_choices, post_to_platform, secret, split_text
from assistant.replies import Reply
from assistant.settings import Settings

__all__ = ["MESSENGER_MAX_TEXT", "messenger_messages", "post_messenger", "quick_replies", "redact_httpx_log"]

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


def quick_replies(buttons: list[dict[str, str]]) -> list[dict[str, str]]:
    """Messenger quick replies from our buttons: at most 13, titles cut to 20 characters."""
    out = []
    for title, payload in button_choices(buttons, max_payload=MESSENGER_MAX_PAYLOAD):
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


async def post_messenger(app: FastAPI, client: httpx.AsyncClient, recipient: str, message: dict[str, Any]) -> None:
    """Send one Messenger message to the page-scoped user id ``recipient``.

    Raises:
        Retriable: a timeout, a connection error or a 5xx.
        Refused: another 4xx.
    """
    redact_httpx_log()
    settings: Settings = app.state.settings
    url = f"{settings.messenger_api_base.rstrip('/')}/me/messages"
    body = {"recipient": {"id": recipient}, "messaging_type": "RESPONSE", "message": message}
    await post_to_platform(client, url, json=body, params={"access_token": secret(settings.messenger_page_token)})
