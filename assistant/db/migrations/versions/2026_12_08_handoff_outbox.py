"""Hand-off timeout and out-of-hours call-back columns; the outbox of platform messages.

Revision ID: 2026_12_08_handoff_outbox
Revises: 2026_11_23_feedback_comment
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "2026_12_08_handoff_outbox"
down_revision: str | None = "2026_11_23_feedback_comment"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    """Add the hand-off columns and the ``outbox`` table."""
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("mode", sa.String(16), nullable=False, server_default="chat"))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("callback_state", sa.String(16), nullable=True))
        batch.add_column(sa.Column("callback_contact", sa.String(255), nullable=True))
        batch.add_column(sa.Column("closed_reason", sa.String(16), nullable=True))
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(255), nullable=True),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(255), nullable=False),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(255), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("direction IN ('in', 'out')", name="ck_outbox_direction"),
        sa.CheckConstraint("status IN ('pending', 'processing', 'done', 'failed')", name="ck_outbox_status"),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("key", name="uq_outbox_key"),
    )
    op.create_index("ix_outbox_recipient", "outbox", ["recipient"])
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])


def downgrade() -> None:
    """Drop the outbox and the hand-off columns."""
    op.drop_index("ix_outbox_status_next_attempt_at", table_name="outbox")
    op.drop_index("ix_outbox_recipient", table_name="outbox")
    op.drop_table("outbox")
    with op.batch_alter_table("handoffs") as batch:
        for name in ("closed_reason", "callback_contact", "callback_state", "expires_at", "mode"):
            batch.drop_column(name)
