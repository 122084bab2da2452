"""Our replies as Zalo messages, and one message sent through the "Gửi tin Tư vấn" API (OA API v3).

A reply becomes Zalo ``message`` objects (:func:`zalo_messages`): its text in chunks of at most 2000 characters,
its buttons as a template attachment on the last chunk (five a message; more follow in messages of their own).
:func:`post_zalo` sends one of them (``POST {api_base}/v3.0/oa/message/cs``, header ``access_token``) for the
outbox (:mod:`assistant.outbox`), which stores, retries and delivers them once.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from assistant.channels.common import (
    CHOOSE_TEXT,
    Refused,
    Retriable,
    button_choices,
    post_to_platform,
    secret,
    split_text,
)
from assistant.channels.zalo_token import EXPIRED_TOKEN_ERROR, current_tokens
from assistant.replies import Reply
from assistant.settings import Settings

__all__ = ["MORE_CHOICES_TEXT", "ZALO_MAX_TEXT", "post_zalo", "zalo_buttons", "zalo_messages"]

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


def zalo_buttons(buttons: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Zalo template buttons: intent payloads (``/start_guide{...}``) are sent back hidden, plain text shown."""
    return [
        {
            "title": title[:ZALO_MAX_BUTTON_TITLE],
            "type": "oa.query.hide" if payload.startswith("/") else "oa.query.show",
            "payload": payload,
        }
        for title, payload in button_choices(buttons, max_payload=ZALO_MAX_PAYLOAD)
    ]


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


async def post_zalo(app: FastAPI, client: httpx.AsyncClient, recipient: str, message: dict[str, Any]) -> None:
    """Send one Zalo message to the user ``recipient``.

    The access token comes from the app's :class:`~assistant.channels.zalo_token.ZaloTokens` when renewal is
    configured, else from the settings. When Zalo answers that it has expired (-216), it is renewed and the
    send is :class:`Retriable`.

    Raises:
        Retriable: a timeout, a connection error, a 5xx, or the expired token (renewed or not).
        Refused: another 4xx, another Zalo error code, or the expired token with no renewal configured.
    """
    settings: Settings = app.state.settings
    tokens = current_tokens(settings)
    token = tokens.access_token() if tokens is not None else secret(settings.zalo_access_token)
    url = f"{settings.zalo_api_base.rstrip('/')}/v3.0/oa/message/cs"
    body = {"recipient": {"user_id": recipient}, "message": message}
    response = await post_to_platform(client, url, json=body, headers={"access_token": token})
    try:
        data = response.json()
    except ValueError:
        data = {}
    code = data.get("error", 0) if isinstance(data, dict) else 0
    if str(code) == str(EXPIRED_TOKEN_ERROR):
        if tokens is None:
            raise Refused(f"Zalo error {code}: access token expired and no renewal configured")
        try:
            await tokens.renew(spent=token)
        except Exception as e:  # noqa: BLE001 - TokenNotRenewed or the OAuth server down: the next round tries again
            raise Retriable(f"Zalo error {code}: access token expired, renewal failed ({type(e).__name__})") from e
        raise Retriable(f"Zalo error {code}: access token expired, renewed")
    if code not in (0, "0", None):
        raise Refused(f"Zalo error {code}")
