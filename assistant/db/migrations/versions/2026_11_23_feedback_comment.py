"""Feedback may be a comment without a rating.

Revision ID: 2026_11_23_feedback_comment
Revises: 2026_11_23_create_tables
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_11_23_feedback_comment"
down_revision: str | None = "2026_11_23_create_tables"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Make ``feedback.rating`` optional."""
    with op.batch_alter_table("feedback") as batch:
        batch.alter_column("rating", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    """Ratings required again (comment-only rows are deleted first)."""
    op.execute("DELETE FROM feedback WHERE rating IS NULL")
    with op.batch_alter_table("feedback") as batch:
        batch.alter_column("rating", existing_type=sa.Integer(), nullable=False)
