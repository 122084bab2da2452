"""What the desk's managers read: hand-offs by status and procedure, ratings, the most asked procedures.

The most asked procedures are counted from Rasa's ``events`` table (the SQL tracker store shares our database).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Engine

from assistant.catalogue.dates import vietnam_today
from assistant.db.models import Feedback, Handoff, HandoffStatus
from assistant.db.session import session_scope
from assistant.text.formatting import VIETNAM

__all__ = ["ANALYTICS_EVENTS", "CHART_DAYS", "analytics_csv", "asked_procedures", "daily_activity", "desk_analytics"]

logger = logging.getLogger(__name__)

#: At most this many recent user events are read for the "most asked" table.
ANALYTICS_EVENTS = 20_000
#: The charts over time cover this many days (Vietnam's calendar), today included.
CHART_DAYS = 14
#: Rasa's "could not understand" intent: a message parsed as it is not understood.
FALLBACK_INTENT = "nlu_fallback"


def asked_procedures(db_engine: Engine) -> tuple[list[tuple[str, int, int]], int]:
    """(procedure key, messages, conversations) from Rasa's ``events`` table, most asked first.

    Returns:
        The rows and how many user messages were read. Empty when the table does not exist yet.
    """
    try:
        if not inspect(db_engine).has_table("events"):
            return [], 0
        with db_engine.connect() as connection:
            rows = connection.execute(
                text("SELECT sender_id, data FROM events WHERE type_name = 'user' ORDER BY id DESC LIMIT :limit"),
                {"limit": ANALYTICS_EVENTS},
            ).all()
    except Exception:  # noqa: BLE001 - analytics must render even when Rasa's table is odd
        logger.exception("could not read Rasa's events table")
        return [], 0
    messages: Counter[str] = Counter()
    senders: dict[str, set[str]] = defaultdict(set)
    for sender_id, data in rows:
        try:
            event = json.loads(data) if isinstance(data, str | bytes) else data
            procedure = (event.get("parse_data") or {}).get("procedure") or {}
            key = procedure.get("key") if isinstance(procedure, dict) else None
        except (ValueError, AttributeError, TypeError):
            continue
        if isinstance(key, str) and key:
            messages[key] += 1
            senders[key].add(str(sender_id))
    ranked = [(key, count, len(senders[key])) for key, count in messages.most_common(15)]
    return ranked, len(rows)


def _day(timestamp: float) -> date:
    return datetime.fromtimestamp(timestamp, VIETNAM).date()


def daily_activity(db_engine: Engine, *, today: date | None = None, days: int = CHART_DAYS) -> list[dict[str, Any]]:
    """Per Vietnam day, oldest first: messages and those understood, walkthroughs started and finished, ratings.

    Messages and walkthroughs come from Rasa's ``events`` table: a user event not parsed as ``nlu_fallback`` is
    understood; ``guide_procedure`` set starts a walkthrough; the bot's reply with the ``result`` aspect (the
    guide's last message) finishes one. Ratings come from our ``feedback`` table.
    """
    last = today or vietnam_today()
    first = last - timedelta(days=days - 1)
    rows: dict[date, dict[str, Any]] = {
        first + timedelta(days=n): {"day": first + timedelta(days=n), "messages": 0, "understood": 0,
                                    "guides_started": 0, "guides_finished": 0, "ratings": 0, "rating_sum": 0}
        for n in range(days)
    }
    since = datetime.combine(first, time(), VIETNAM)
    try:
        events = []
        if inspect(db_engine).has_table("events"):
            with db_engine.connect() as connection:
                events = connection.execute(
                    text("SELECT type_name, timestamp, data FROM events WHERE type_name IN ('user', 'bot', 'slot') "
                         "AND timestamp >= :since ORDER BY id DESC LIMIT :limit"),
                    {"since": since.timestamp(), "limit": ANALYTICS_EVENTS * 5},
                ).all()
    except Exception:  # noqa: BLE001 - analytics must render even when Rasa's table is odd
        logger.exception("could not read Rasa's events table")
        events = []
    for type_name, timestamp, data in events:
        row = rows.get(_day(float(timestamp)))
        try:
            event = json.loads(data) if isinstance(data, str | bytes) else data
            if row is None or not isinstance(event, dict):
                continue
            if type_name == "user":
                row["messages"] += 1
                row["understood"] += ((event.get("parse_data") or {}).get("intent") or {}).get("name") != FALLBACK_INTENT
            elif type_name == "slot":
                row["guides_started"] += event.get("name") == "guide_procedure" and bool(event.get("value"))
            elif type_name == "bot":
                custom = (event.get("data") or {}).get("custom") or {}
                row["guides_finished"] += isinstance(custom, dict) and custom.get("aspect") == "result"
        except (ValueError, AttributeError, TypeError):
            continue
    with session_scope(db_engine) as session:
        for created_at, rating in session.execute(
            select(Feedback.created_at, Feedback.rating).where(Feedback.created_at >= since)
        ):
            if rating is None:
                continue
            moment = created_at if created_at.tzinfo else created_at.replace(tzinfo=timezone.utc)
            row = rows.get(moment.astimezone(VIETNAM).date())
            if row is not None:
                row["ratings"] += 1
                row["rating_sum"] += int(rating)
    return list(rows.values())


def desk_analytics(db_engine: Engine) -> dict[str, Any]:
    """Hand-offs by status and by procedure, ratings by procedure and overall, the most asked procedures."""
    with session_scope(db_engine) as session:
        by_status = dict(session.execute(select(Handoff.status, func.count()).group_by(Handoff.status)).all())
        per_procedure: dict[str | None, dict[str, int]] = defaultdict(Counter)
        for key, state, count in session.execute(
            select(Handoff.procedure_key, Handoff.status, func.count()).group_by(Handoff.procedure_key, Handoff.status)
        ):
            per_procedure[key][state] += count
        ratings = session.execute(
            select(Feedback.procedure_key, func.count(Feedback.rating), func.avg(Feedback.rating)).group_by(Feedback.procedure_key)
        ).all()
        overall = session.execute(select(func.count(Feedback.rating), func.avg(Feedback.rating))).one()
    asked, read = asked_procedures(db_engine)
    return {
        "by_status": [(s.value, int(by_status.get(s.value, 0))) for s in HandoffStatus],
        "handoffs_total": sum(int(v) for v in by_status.values()),
        "per_procedure": sorted(
            ((key, dict(counts), sum(counts.values())) for key, counts in per_procedure.items()),
            key=lambda row: (-row[2], row[0] is None, str(row[0])),
        ),
        "ratings": sorted(
            ((key, int(count), float(avg or 0)) for key, count, avg in ratings), key=lambda row: (-row[1], str(row[0]))
        ),
        "ratings_total": int(overall[0] or 0),
        "ratings_average": float(overall[1] or 0),
        "asked": asked,
        "events_read": read,
        "days": daily_activity(db_engine),
    }


def analytics_csv(data: dict[str, Any], label: Callable[[str | None], str]) -> str:
    """The analytics as one CSV table (``section, procedure key, procedure, measure, value``), for a spreadsheet.

    Args:
        data: :func:`desk_analytics`.
        label: a procedure's name from its key.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "procedure_key", "procedure", "measure", "value"])
    for state, count in data["by_status"]:
        writer.writerow(["handoffs", "", "", state, count])
    for key, counts, total in data["per_procedure"]:
        for state in (s.value for s in HandoffStatus):
            writer.writerow(["handoffs_by_procedure", key or "", label(key), state, counts.get(state, 0)])
        writer.writerow(["handoffs_by_procedure", key or "", label(key), "total", total])
    for key, count, average in data["ratings"]:
        writer.writerow(["ratings", key or "", label(key), "count", count])
        writer.writerow(["ratings", key or "", label(key), "average", f"{average:.2f}"])
    for key, messages, conversations in data["asked"]:
        writer.writerow(["asked", key, label(key), "messages", messages])
        writer.writerow(["asked", key, label(key), "conversations", conversations])
    return out.getvalue()
