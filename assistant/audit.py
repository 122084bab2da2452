"""The desk's audit log: who claimed, replied to and handed back which hand-off; who opened which desk case; who
changed which account.

Example:
    >>> record(db_engine, "canbo1", "claim", handoff_id=7)  # doctest: +SKIP
"""

from __future__ import annotations

import logging

from sqlalchemy import desc, select
from sqlalchemy.engine import Engine

from assistant.db.models import StaffAudit
from assistant.db.session import session_scope

__all__ = ["ACTION_LABELS", "recent", "record"]

logger = logging.getLogger(__name__)

ACTION_LABELS = {
    "claim": "Nhận xử lý",
    "reply": "Trả lời",
    "close": "Trả lại trợ lý ảo",
    "desk_case": "Mở hồ sơ cho công dân (mã QR)",
    "officer_added": "Thêm tài khoản",
    "officer_disabled": "Khóa tài khoản",
    "officer_enabled": "Mở khóa tài khoản",
}


def record(db_engine: Engine, officer: str, action: str, *, handoff_id: int | None = None, detail: str | None = None) -> None:
    """Write one line of the audit log (never the text of a reply: it may hold personal data)."""
    with session_scope(db_engine) as session:
        session.add(StaffAudit(officer=officer, action=action, handoff_id=handoff_id, detail=(detail or None) and detail[:255]))


def recent(db_engine: Engine, *, limit: int = 200, handoff_id: int | None = None) -> list[StaffAudit]:
    """The latest lines, newest first (of one hand-off when given)."""
    query = select(StaffAudit).order_by(desc(StaffAudit.at), desc(StaffAudit.id)).limit(limit)
    if handoff_id is not None:
        query = query.where(StaffAudit.handoff_id == handoff_id)
    with session_scope(db_engine) as session:
        rows = list(session.execute(query).scalars())
        session.expunge_all()
    return rows
