"""worker: item exports written by the background export task

Revision ID: worker_0001
Revises:
Create Date: 2026-11-22 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "worker_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("worker",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "item_exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_exports")),
    )


def downgrade() -> None:
    op.drop_table("item_exports")
