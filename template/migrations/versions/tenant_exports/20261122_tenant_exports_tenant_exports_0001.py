"""tenant_exports: item exports belong to a tenant, with row-level security

Revision ID: tenant_exports_0001
Revises:
Create Date: 2026-11-22 22:00:00

Exists only with celery and multi_tenancy both on, so it depends on the roots of both streams.
Exports made before tenancy was switched on are adopted by the tenant named "default"
(created here if the tenancy migration found no items to give it), like the items they were
made from.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "tenant_exports_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("tenant_exports",)
depends_on: str | Sequence[str] | None = ("worker_0001", "tenancy_0001")

CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
TENANTS = sa.table(
    "tenants",
    sa.column("id", sa.Uuid()),
    sa.column("slug", sa.String()),
    sa.column("name", sa.String()),
    sa.column("status", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
EXPORTS = sa.table("item_exports", sa.column("tenant_id", sa.Uuid()))


def _default_tenant(bind: sa.Connection) -> uuid.UUID:
    query = sa.select(TENANTS.c.id).where(TENANTS.c.slug == "default")
    existing: uuid.UUID | None = bind.execute(query).scalar_one_or_none()
    if existing is not None:
        return existing
    tenant_id = uuid.uuid4()
    bind.execute(
        sa.insert(TENANTS).values(
            id=tenant_id,
            slug="default",
            name="Default",
            status="active",
            created_at=datetime.now(UTC),
        )
    )
    return tenant_id


def _adopt_existing_exports() -> None:
    bind = op.get_bind()
    if bind.execute(sa.select(sa.func.count()).select_from(EXPORTS)).scalar_one() == 0:
        return
    bind.execute(sa.update(EXPORTS).values(tenant_id=_default_tenant(bind)))


def upgrade() -> None:
    with op.batch_alter_table("item_exports") as batch:
        batch.add_column(sa.Column("tenant_id", sa.Uuid(), nullable=True))
    _adopt_existing_exports()
    with op.batch_alter_table("item_exports") as batch:
        batch.alter_column("tenant_id", existing_type=sa.Uuid(), nullable=False)
        batch.create_foreign_key(
            op.f("fk_item_exports_tenant_id_tenants"), "tenants", ["tenant_id"], ["id"]
        )
        batch.create_index(op.f("ix_item_exports_tenant_id"), ["tenant_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE item_exports ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE item_exports FORCE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_isolation ON item_exports "
            f"USING (tenant_id = {CURRENT_TENANT}) "
            f"WITH CHECK (tenant_id = {CURRENT_TENANT})"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS tenant_isolation ON item_exports")
        op.execute("ALTER TABLE item_exports NO FORCE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE item_exports DISABLE ROW LEVEL SECURITY")
    with op.batch_alter_table("item_exports") as batch:
        batch.drop_index(op.f("ix_item_exports_tenant_id"))
        batch.drop_constraint(op.f("fk_item_exports_tenant_id_tenants"), type_="foreignkey")
        batch.drop_column("tenant_id")
