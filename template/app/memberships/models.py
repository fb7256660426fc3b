"""Who belongs to which tenant, and as what (auth x multi_tenancy)."""

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, UTCDateTime, utcnow
from app.tenancy.models import NO_RLS_REASON


class TenantRole(enum.StrEnum):
    MEMBER = "member"
    ADMIN = "admin"


class Membership(Base):
    """Not tenant-scoped (no `tenant_id_column`): sign-in reads a user's memberships before
    any tenant is known, so neither the ORM filter nor row-level security may hide them.
    Every query names the user or the tenant it wants explicitly instead."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "tenant_id"),
        CheckConstraint("role IN ('member', 'admin')", name="role_known"),
        {"info": {NO_RLS_REASON: "read at sign-in, before a tenant is chosen"}},
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16), default=TenantRole.MEMBER.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
