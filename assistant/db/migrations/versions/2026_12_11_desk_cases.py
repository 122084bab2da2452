"""Desk cases: what an officer opened for a citizen at the desk, continued on the phone through a QR code.

Revision ID: 2026_12_11_desk_cases
Revises: 2026_12_10_staff_roles_audit
Create Date: 2026-12-11
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "2026_12_11_desk_cases"
down_revision: str | None = "2026_12_10_staff_roles_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    """Create ``desk_cases``."""
    op.create_table(
        "desk_cases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("procedure_key", sa.String(64), nullable=False),
        sa.Column("answers", JSONType, nullable=False),
        sa.Column("officer", sa.String(150), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_cases")),
    )


def downgrade() -> None:
    """Drop ``desk_cases``."""
    op.drop_table("desk_cases")
