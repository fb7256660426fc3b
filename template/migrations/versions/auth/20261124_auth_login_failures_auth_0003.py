"""auth: failed sign-in counters (per-account throttling)

Revision ID: auth_0003
Revises: auth_0002
Create Date: 2026-11-24 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "auth_0003"
down_revision: str | Sequence[str] | None = "auth_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_login_failures",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("forget_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_auth_login_failures")),
    )
    op.create_index(op.f("ix_auth_login_failures_forget_at"), "auth_login_failures", ["forget_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_auth_login_failures_forget_at"), table_name="auth_login_failures")
    op.drop_table("auth_login_failures")
