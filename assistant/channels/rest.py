"""Rasa's REST channel (``POST /webhooks/rest/webhook``) and NLU parsing (``POST /model/parse``)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, constr

from assistant.channels.common import conversation_id
from assistant.engine import ConversationEngine, complete_parse
from assistant.errors import ModelNotReady
from assistant.metrics import TURN_SECONDS
from assistant.replies import Reply

router = APIRouter(tags=["channels"])
logger = logging.getLogger(__name__)

EMPTY_REPLY = "Bạn chưa nhập nội dung. Bạn cần làm thủ tục gì, cứ nhắn mình nhé (ví dụ: “làm lại căn cước”)."
NO_WORDS_REPLY = "Mình chỉ đọc được chữ thôi ạ. Bạn nhắn giúp mình thủ tục bạn cần làm nhé (ví dụ: “làm hộ chiếu”)."


class RestMessage(BaseModel):
    """Body of the REST channel."""

    sender: constr(strict=True, min_length=1, max_length=128)  # type: ignore[valid-type]
    message: constr(strict=True, max_length=20000) = ""  # type: ignore[valid-type]
    metadata: dict[str, Any] | None = None


class ParseRequest(BaseModel):
    """Body of ``/model/parse``."""

    text: constr(strict=True, max_length=20000) = ""  # type: ignore[valid-type]


def engine_of(request: Request) -> ConversationEngine:
    """The loaded conversation engine, or ModelNotReady (answered 503)."""
    engine = getattr(request.app.state, "engine", None)
    if engine is None or not engine.is_ready():
        raise ModelNotReady("the model is not loaded")
    return engine


def has_words(text: str) -> bool:
    """True when the text has at least one letter or digit (not only emoji or punctuation)."""
    return any(ch.isalnum() for ch in text)


async def handle_text(
    engine: ConversationEngine, sender: str, text: str, *, channel: str, metadata: dict[str, Any] | None = None
) -> list[Reply]:
    """Answer one message: empty and word-less messages get a polite reply without touching Rasa."""
    if not text.strip():
        return [Reply(recipient_id=sender, text=EMPTY_REPLY)]
    if not has_words(text) and not text.startswith("/"):
        return [Reply(recipient_id=sender, text=NO_WORDS_REPLY)]
    with TURN_SECONDS.labels(channel=channel).time():
        return await engine.handle(sender, text, channel=channel, metadata=metadata)


@router.post("/webhooks/rest/webhook", response_model=None)
async def rest_webhook(body: RestMessage, request: Request) -> JSONResponse:
    """Rasa's REST channel: one message in, the bot's replies out.

    The conversation is ``rest:<sender>``: whatever the client sends as ``sender`` (``zalo:…``, ``web:…``), it
    only ever reaches a REST conversation. Replies carry the client's own ``sender`` as ``recipient_id``.
    The replies are plain JSON already: they go out as they are (FastAPI's validation and re-encoding of the
    return value cost 4% of a busy server's CPU).
    """
    engine = engine_of(request)
    sender = conversation_id("rest", body.sender)
    replies = await handle_text(engine, sender, body.message, channel="rest", metadata=body.metadata)
    return JSONResponse([{**r.as_rest(), "recipient_id": body.sender} for r in replies])


@router.post("/model/parse")
async def model_parse(body: ParseRequest, request: Request) -> dict[str, Any]:
    """Rasa's parse object plus ``procedure``, ``procedure_ranking`` and ``aspect``."""
    engine = engine_of(request)
    if not body.text.strip():
        return complete_parse({"text": body.text}, body.text)
    return await engine.parse(body.text)
