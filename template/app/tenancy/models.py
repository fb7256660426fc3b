"""The tenants table, and how another table declares that its rows belong to a tenant."""

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from app.core.models import Base, UTCDateTime, utcnow

# Marks the column that scopes a table by tenant; app/tenancy/isolation.py filters and
# stamps every model that has it, and the RLS catalogue test expects a policy on its table.
TENANT_SCOPED = "tenant_scoped"
# Table info key for a table that has a tenant_id yet is not scoped by it (no filter, no row-
# level security); its value says why. The RLS catalogue test leaves such tables out.
NO_RLS_REASON = "no_rls_reason"


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class Tenant(Base):
    __tablename__ = "tenants"
    __table_args__ = (CheckConstraint("status IN ('active', 'inactive')", name="status_known"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Lowercase DNS label, so it can be a subdomain.
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=TenantStatus.ACTIVE.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def tenant_id_column(**kwargs: Any) -> Mapped[uuid.UUID]:
    """The `tenant_id` column of a tenant-scoped table (set from the current tenant)."""
    return mapped_column(
        Uuid,
        ForeignKey("tenants.id"),
        index=True,
        info={TENANT_SCOPED: True},
        **kwargs,
    )


class TenantScopedMixin:
    """Base for a feature's own tenant-scoped models: `class Note(TenantScopedMixin, Base)`.

    Its migration must add the row-level security policy too (see the tenancy stream).
    """

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return tenant_id_column()
