"""A hand-off's conversation as staff read it: from the tracker (through ConversationEngine), else what was stored.

Example:
    >>> transcript_text([{"from": "citizen", "staff": None, "text": "mất hộ chiếu", "time": None}])
    'Người dân: mất hộ chiếu\\n'
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from assistant.db.models import Handoff
from assistant.text.formatting import vn_datetime

__all__ = ["read_transcript", "transcript_from_events", "transcript_text"]

logger = logging.getLogger(__name__)

SPEAKERS = {"citizen": "Người dân", "bot": "Trợ lý ảo", "staff": "Cán bộ"}


def transcript_from_events(events: Iterable[Any]) -> list[dict[str, Any]]:
    """User and bot messages of a tracker, oldest first, staff replies marked."""
    out: list[dict[str, Any]] = []
    for event in events:
        kind = getattr(event, "type_name", None)
        body = getattr(event, "text", None)
        if kind not in ("user", "bot") or not body:
            continue
        metadata = (getattr(event, "metadata", None) or {}) if kind == "bot" else {}
        staff = metadata.get("from_staff")
        out.append(
            {
                "from": "citizen" if kind == "user" else ("staff" if staff else "bot"),
                "staff": staff,
                "delivered": metadata.get("delivered") if staff else None,
                "text": body,
                "time": getattr(event, "timestamp", None),
            }
        )
    return out


async def read_transcript(conversations: Any, handoff: Handoff) -> tuple[list[dict[str, Any]], bool]:
    """The conversation from the tracker, or the messages stored with the hand-off.

    Args:
        conversations: the :class:`~assistant.engine.ConversationEngine`, or None while the model loads.
        handoff: the hand-off.

    Returns:
        The messages and whether they are the whole conversation (False: the stored last messages).
    """
    if conversations is not None:
        try:
            tracker = await conversations.tracker(handoff.sender_id)
            return transcript_from_events(tracker.events), True
        except Exception:  # noqa: BLE001 - the page must still show what the hand-off stored
            logger.exception("could not read the tracker of hand-off %s", handoff.id)
    stored = [
        {"from": m.get("from", "bot"), "staff": None, "delivered": None, "text": m.get("text", ""), "time": None}
        for m in handoff.last_messages or []
        if isinstance(m, dict)
    ]
    return stored, False


def transcript_text(messages: list[dict[str, Any]]) -> str:
    """The messages as plain text, one a line: ``[23/11/2026 14:05] Cán bộ canbo1: …`` (a download)."""
    lines = []
    for m in messages:
        who = SPEAKERS.get(m["from"], m["from"]) + (f" {m['staff']}" if m.get("staff") else "")
        when = f"[{vn_datetime(m['time'])}] " if m.get("time") else ""
        lines.append(f"{when}{who}: {m['text']}")
    return "\n".join(lines) + ("\n" if lines else "")
