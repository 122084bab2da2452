"""The Zalo OA token pair shared by all processes; failed staff log-ins (the throttle shared by all processes).

Revision ID: 2026_12_09_zalo_tokens_logins
Revises: 2026_12_08_handoff_outbox
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_12_09_zalo_tokens_logins"
down_revision: str | None = "2026_12_08_handoff_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``zalo_tokens`` and ``login_failures``."""
    op.create_table(
        "zalo_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("app_id", sa.String(64), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seed_hash", sa.String(64), nullable=False),
        sa.Column("last_error", sa.String(255), nullable=True),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zalo_tokens")),
        sa.UniqueConstraint("app_id", name=op.f("uq_zalo_tokens_app_id")),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("username", sa.String(150), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index("ix_login_failures_client_username_at", "login_failures", ["client", "username", "at"])


def downgrade() -> None:
    """Drop both tables."""
    op.drop_index("ix_login_failures_client_username_at", table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_table("zalo_tokens")
