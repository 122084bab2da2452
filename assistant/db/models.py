"""Our tables (Rasa's tracker store keeps its own ``events`` table beside them).

Change a table here, then add a date-prefixed revision under ``assistant/db/migrations/versions/``:
the schema is created only by Alembic (:func:`assistant.db.migrate.upgrade`), never by ``create_all``.
"""

import enum
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import declarative_base

__all__ = [
    "Base",
    "DeskCase",
    "Feedback",
    "Handoff",
    "HandoffStatus",
    "OutboxRow",
    "StaffAudit",
    "JSONType",
    "LoginFailure",
    "ProcedureRow",
    "StaffUser",
    "ZaloToken",
    "metadata",
    "utcnow",
]

#: Constraint names that are the same on every database, so migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)
Base: Any = declarative_base(metadata=metadata)

#: JSON everywhere, JSONB on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class HandoffStatus(str, enum.Enum):
    """Where a hand-off to staff stands."""

    open = "open"
    claimed = "claimed"
    closed = "closed"


class ProcedureRow(Base):
    """One validated procedure record; ``data`` is the whole record as JSON."""

    __tablename__ = "procedures"

    key: str = Column(String(64), primary_key=True)
    code: str | None = Column(String(32), nullable=True, index=True)
    name: str = Column(Text, nullable=False)
    level: str = Column(String(16), nullable=False)
    online: str = Column(String(16), nullable=False)
    data: dict[str, Any] = Column(JSONType, nullable=False)
    content_hash: str = Column(String(64), nullable=False)
    verified_on: date = Column(Date, nullable=False)
    updated_at: datetime = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)


class Handoff(Base):
    """A conversation handed to staff, with what the assistant already knows."""

    __tablename__ = "handoffs"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'claimed', 'closed')", name="status"),
        Index("ix_handoffs_status_created_at", "status", "created_at"),
    )

    id: int = Column(Integer, primary_key=True, autoincrement=True)
    sender_id: str = Column(String(255), nullable=False, index=True)
    channel: str = Column(String(32), nullable=False)
    procedure_key: str | None = Column(String(64), nullable=True)
    step: int | None = Column(Integer, nullable=True)
    answers: dict[str, Any] = Column(JSONType, nullable=False, default=dict)
    summary: str = Column(Text, nullable=False, default="")
    last_messages: list[Any] = Column(JSONType, nullable=False, default=list)
    status: str = Column(String(16), nullable=False, default=HandoffStatus.open.value)
    assigned_to: str | None = Column(String(255), nullable=True)
    created_at: datetime = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at: datetime = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)
    #: ``chat`` (staff answer in the conversation; the bot is silent) or ``callback`` (out of desk hours: the
    #: citizen left a phone number or e-mail, or declined; the bot answers meanwhile).
    mode: str = Column(String(16), nullable=False, default="chat")
    #: A chat hand-off with no staff action by then goes back to the bot (None: never; out-of-hours ones).
    expires_at: datetime | None = Column(DateTime(timezone=True), nullable=True)
    #: Out of hours: ``consent`` (asked whether to leave a contact), ``contact`` (asked for it), ``done``, ``declined``.
    callback_state: str | None = Column(String(16), nullable=True)
    #: The phone number or e-mail the citizen agreed to leave for a call-back (never logged unmasked).
    callback_contact: str | None = Column(String(255), nullable=True)
    #: Why it was closed: ``staff`` (handed back), ``timeout`` (no staff action in time).
    closed_reason: str | None = Column(String(16), nullable=True)


class Feedback(Base):
    """A citizen's rating of an answer or a walkthrough."""

    __tablename__ = "feedback"

    id: int = Column(Integer, primary_key=True, autoincrement=True)
    sender_id: str = Column(String(255), nullable=False)
    channel: str = Column(String(32), nullable=False)
    procedure_key: str | None = Column(String(64), nullable=True, index=True)
    rating: int | None = Column(Integer, nullable=True)
    comment: str | None = Column(Text, nullable=True)
    created_at: datetime = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class OutboxRow(Base):
    """A platform message in or out, kept until it is answered or delivered (survives a crash or restart).

    ``direction`` ``in``: a citizen's Zalo/Messenger event accepted by the webhook (``payload``: text, metadata);
    ``key`` (the platform's message id) makes a redelivered event a no-op. ``direction`` ``out``: the bot's replies
    to one event, as the platform's message bodies (``payload["messages"]``); ``sent`` counts those delivered.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint("direction IN ('in', 'out')", name="direction"),
        CheckConstraint("status IN ('pending', 'processing', 'done', 'failed')", name="status"),
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int = Column(Integer, primary_key=True, autoincrement=True)
    key: str | None = Column(String(255), nullable=True, unique=True)
    direction: str = Column(String(8), nullable=False)
    channel: str = Column(String(32), nullable=False)
    recipient: str = Column(String(255), nullable=False, index=True)
    payload: dict[str, Any] = Column(JSONType, nullable=False, default=dict)
    status: str = Column(String(16), nullable=False, default="pending")
    attempts: int = Column(Integer, nullable=False, default=0)
    sent: int = Column(Integer, nullable=False, default=0)
    last_error: str | None = Column(String(255), nullable=True)
    next_attempt_at: datetime = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    created_at: datetime = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at: datetime = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)


class StaffUser(Base):
    """A one-stop-desk officer who can log in to the staff console."""

    __tablename__ = "staff_users"

    id: int = Column(Integer, primary_key=True, autoincrement=True)
    username: str = Column(String(150), nullable=False, unique=True)
    password_hash: str = Column(String(255), nullable=False)
    #: ``officer`` (the desk) or ``admin`` (also adds and disables officers).
    role: str = Column(String(16), nullable=False, default="officer", server_default="officer")
    #: A disabled officer cannot log in; their sessions end.
    disabled: bool = Column(Boolean, nullable=False, default=False, server_default=false())
    created_at: datetime = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class ZaloToken(Base):
    """The Zalo OA token pair in use, shared by every process (the environment's pair is only a seed).

    Zalo refresh tokens are single-use: each renewal stores the rotated pair here, in the same transaction
    that holds the row's lock, so that one process renews at a time and a spent refresh token is never sent
    again. ``seed_hash`` (SHA-256 of ``ASSISTANT_ZALO_REFRESH_TOKEN``) tells a new seed from the old one.
    """

    __tablename__ = "zalo_tokens"

    id: int = Column(Integer, primary_key=True, autoincrement=True)
    app_id: str = Column(String(64), nullable=False, unique=True)
    access_token: str = Column(Text, nullable=False)
    #: None once spent without a successor (Zalo refused it): renewal needs a new seed.
    refresh_token: str | None = Column(Text, nullable=True)
    #: When the access token expires (UTC); None when unknown (a seed).
    expires_at: datetime | None = Column(DateTime(timezone=True), nullable=True)
    seed_hash: str = Column(String(64), nullable=False)
    #: Why the last renewal failed (no secrets in it); None after a success.
    last_error: str | None = Column(String(255), nullable=True)
    renewed_at: datetime | None = Column(DateTime(timezone=True), nullable=True)
    updated_at: datetime = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)


class LoginFailure(Base):
    """One failed staff log-in, by client address and user name: the throttle shared by every process."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_client_username_at", "client", "username", "at"),)

    id: int = Column(Integer, primary_key=True, autoincrement=True)
    client: str = Column(String(64), nullable=False)
    username: str = Column(String(150), nullable=False)
    at: datetime = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class StaffAudit(Base):
    """Who did what at the desk: claimed, replied, handed back; added, disabled or enabled an officer."""

    __tablename__ = "staff_audit"

    id: int = Column(Integer, primary_key=True, autoincrement=True)
    at: datetime = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    officer: str = Column(String(150), nullable=False)
    action: str = Column(String(32), nullable=False)
    handoff_id: int | None = Column(Integer, nullable=True, index=True)
    detail: str | None = Column(String(255), nullable=True)


class DeskCase(Base):
    """A case an officer opened for the citizen at the desk; its printed QR code continues it on the phone.

    No personal data: the procedure, the citizen's answers to its questions (question id → option id), the
    officer and how long its code is valid (:mod:`assistant.desk_cases`).
    """

    __tablename__ = "desk_cases"

    id: int = Column(Integer, primary_key=True, autoincrement=True)
    procedure_key: str = Column(String(64), nullable=False)
    answers: dict[str, Any] = Column(JSONType, nullable=False, default=dict)
    officer: str = Column(String(150), nullable=False)
    created_at: datetime = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    #: Until when its QR code opens it (whole seconds: the code carries the same moment).
    expires_at: datetime = Column(DateTime(timezone=True), nullable=False)
