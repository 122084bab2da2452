"""Officer roles and disabled accounts; the desk's audit log.

Revision ID: 2026_12_10_staff_roles_audit
Revises: 2026_12_09_zalo_tokens_logins
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_12_10_staff_roles_audit"
down_revision: str | None = "2026_12_09_zalo_tokens_logins"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``staff_users.role`` and ``.disabled``; create ``staff_audit``."""
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="officer"))
        batch.add_column(sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "staff_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("officer", sa.String(150), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_audit")),
    )
    op.create_index(op.f("ix_staff_audit_at"), "staff_audit", ["at"])
    op.create_index(op.f("ix_staff_audit_handoff_id"), "staff_audit", ["handoff_id"])


def downgrade() -> None:
    """Drop ``staff_audit`` and the two columns."""
    op.drop_index(op.f("ix_staff_audit_handoff_id"), table_name="staff_audit")
    op.drop_index(op.f("ix_staff_audit_at"), table_name="staff_audit")
    op.drop_table("staff_audit")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("disabled")
        batch.drop_column("role")
