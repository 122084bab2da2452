"""What the web widget shows again after a reload: the conversation's messages, and the staff replies it polls for.

Both are read from the conversation's Rasa events (the tracker), oldest first. The history starts after the
latest restart ("Kết thúc trò chuyện" or "làm lại từ đầu" from scratch); the buttons of the last reply are kept
so the citizen can go on where they were, and each bot message keeps its answer metadata
(``custom: {procedure, aspect, step, steps}``), from which the widget shows the walkthrough position.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Engine

from assistant.db.models import Handoff
from assistant.db.session import session_scope

logger = logging.getLogger(__name__)

MAX_HISTORY_MESSAGES = 80
MAX_STAFF_MESSAGES = 50
#: What the citizen's own button press or command is shown as when it has no button title to show.
SHOWN_COMMANDS = {"/greet": "Xin chào"}


def _bot_message(event: Any) -> dict[str, Any]:
    data = getattr(event, "data", None) or {}
    metadata = getattr(event, "metadata", None) or {}
    message: dict[str, Any] = {
        "from": "staff" if metadata.get("from_staff") else "bot",
        "text": getattr(event, "text", None),
        "timestamp": float(event.timestamp),
    }
    buttons = data.get("buttons") or []
    if buttons:
        message["buttons"] = [{"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))} for b in buttons]
    if data.get("custom") is not None:
        message["custom"] = data["custom"]
    return message


def _shown_user_text(text: str, buttons: list[dict[str, str]]) -> str | None:
    """What the widget showed for a citizen message: a pressed button's title instead of its payload."""
    if not text.startswith("/"):
        return text
    for button in buttons:
        if button.get("payload") == text:
            return button.get("title") or None
    return SHOWN_COMMANDS.get(text.split("{", 1)[0])


def history_from_events(events: Iterable[Any], *, limit: int = MAX_HISTORY_MESSAGES) -> list[dict[str, Any]]:
    """The conversation as the widget shows it, oldest first.

    Args:
        events: the tracker's events.
        limit: the most recent messages kept.

    Returns:
        ``[{"from": "citizen"|"bot"|"staff", "text", "timestamp", "buttons"?, "custom"?}]``; buttons only on
        the bot messages after the citizen's last message (the reply they can still answer).

    Example:
        ``[{"from": "citizen", "text": "làm hộ chiếu", ...}, {"from": "bot", "text": "Bước 2/7: …",
        "buttons": [{"title": "Tiếp theo", "payload": "/next_step"}], "custom": {"procedure": "ho-chieu",
        "aspect": "steps", "step": 2, "steps": 7}, ...}]``
    """
    messages: list[dict[str, Any]] = []
    offered: list[dict[str, str]] = []  # buttons of the bot messages since the citizen's last message
    for event in events:
        kind = getattr(event, "type_name", None)
        if kind == "restart":
            messages, offered = [], []
        elif kind == "user":
            shown = _shown_user_text(getattr(event, "text", None) or "", offered)
            offered = []
            if shown:
                messages.append({"from": "citizen", "text": shown, "timestamp": float(event.timestamp)})
        elif kind == "bot":
            message = _bot_message(event)
            if not message["text"] and "buttons" not in message:
                # Rasa sends a reply's metadata as a message of its own: put it back on the text it belongs to.
                if "custom" in message and messages and messages[-1]["from"] != "citizen":
                    messages[-1].setdefault("custom", message["custom"])
                continue
            offered += message.get("buttons", [])
            messages.append(message)
    last_citizen = max((i for i, m in enumerate(messages) if m["from"] == "citizen"), default=-1)
    for message in messages[: last_citizen + 1]:
        message.pop("buttons", None)
    return messages[-limit:]


def staff_messages_from_events(events: Iterable[Any], after: float) -> list[dict[str, Any]]:
    """Staff replies (bot messages marked ``from_staff``) written after ``after`` (Unix time)."""
    out = []
    for event in events:
        if getattr(event, "type_name", None) != "bot" or not getattr(event, "text", None):
            continue
        if (getattr(event, "metadata", None) or {}).get("from_staff") and float(event.timestamp) > after:
            out.append({"text": event.text, "timestamp": float(event.timestamp)})
    return out[-MAX_STAFF_MESSAGES:]


def staff_messages_from_db(engine: Engine, sender_id: str, after: float) -> list[dict[str, Any]]:
    """Staff replies read straight from Rasa's ``events`` table (when no model is loaded)."""
    try:
        if not inspect(engine).has_table("events"):
            return []
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT data, timestamp FROM events WHERE sender_id = :sender AND type_name = 'bot' "
                    "AND timestamp > :after ORDER BY id"
                ),
                {"sender": sender_id, "after": after},
            ).all()
    except Exception:  # noqa: BLE001 - the widget's poll must never fail on Rasa's table
        logger.exception("could not read staff messages from Rasa's events table")
        return []
    out = []
    for data, timestamp in rows:
        try:
            event = json.loads(data) if isinstance(data, str | bytes) else data
        except ValueError:
            continue
        if isinstance(event, dict) and (event.get("metadata") or {}).get("from_staff") and event.get("text"):
            out.append({"text": event["text"], "timestamp": float(timestamp)})
    return out[-MAX_STAFF_MESSAGES:]


def has_handoff(engine: Engine, sender_id: str) -> bool:
    """True when the conversation was ever handed to staff."""
    with session_scope(engine) as session:
        return session.execute(select(Handoff.id).where(Handoff.sender_id == sender_id).limit(1)).first() is not None
