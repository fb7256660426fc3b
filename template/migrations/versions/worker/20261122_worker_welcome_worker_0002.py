"""worker: the outbox of welcome messages written by the welcome task

Revision ID: worker_0002
Revises: worker_0001
Create Date: 2026-11-22 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "worker_0002"
down_revision: str | Sequence[str] | None = "worker_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "welcome_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_welcome_messages")),
        sa.UniqueConstraint("user_id", name=op.f("uq_welcome_messages_user_id")),
    )


def downgrade() -> None:
    op.drop_table("welcome_messages")
