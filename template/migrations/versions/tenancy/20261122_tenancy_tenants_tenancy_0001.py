"""tenancy: tenants, items.tenant_id and row-level security

Revision ID: tenancy_0001
Revises:
Create Date: 2026-11-22 19:00:00

Items that exist when tenancy is switched on are adopted by a tenant named "default", so no
row is left without a tenant (or lost). On PostgreSQL every tenant-scoped table gets row-level
security, forced so that the table owner is subject to it too; the policy reads the tenant the
application sets per transaction. An unset or empty setting matches no row.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "tenancy_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("tenancy",)
depends_on: str | Sequence[str] | None = "core_0001"

TENANT_SCOPED_TABLES = ("items",)
CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def _adopt_existing_items() -> None:
    bind = op.get_bind()
    items = sa.table("items", sa.column("tenant_id", sa.Uuid()))
    if bind.execute(sa.select(sa.func.count()).select_from(items)).scalar_one() == 0:
        return
    tenants = sa.table(
        "tenants",
        sa.column("id", sa.Uuid()),
        sa.column("slug", sa.String()),
        sa.column("name", sa.String()),
        sa.column("status", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    default_id = uuid.uuid4()
    bind.execute(
        sa.insert(tenants).values(
            id=default_id,
            slug="default",
            name="Default",
            status="active",
            created_at=datetime.now(UTC),
        )
    )
    bind.execute(sa.update(items).values(tenant_id=default_id))


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'inactive')", name=op.f("ck_tenants_status_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenants_slug")),
    )
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("tenant_id", sa.Uuid(), nullable=True))
    _adopt_existing_items()
    with op.batch_alter_table("items") as batch:
        batch.alter_column("tenant_id", existing_type=sa.Uuid(), nullable=False)
        batch.create_foreign_key(
            op.f("fk_items_tenant_id_tenants"), "tenants", ["tenant_id"], ["id"]
        )
        batch.create_index(op.f("ix_items_tenant_id"), ["tenant_id"])
    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_SCOPED_TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY tenant_isolation ON {table} "
                f"USING (tenant_id = {CURRENT_TENANT}) "
                f"WITH CHECK (tenant_id = {CURRENT_TENANT})"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_SCOPED_TABLES:
            op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
            op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    with op.batch_alter_table("items") as batch:
        batch.drop_index(op.f("ix_items_tenant_id"))
        batch.drop_constraint(op.f("fk_items_tenant_id_tenants"), type_="foreignkey")
        batch.drop_column("tenant_id")
    op.drop_table("tenants")
