"""Which tenant a session is signed in to: auth's `tenant_selector` hook."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.context import TenantGrant
from app.core.errors import AppError
from app.memberships.models import Membership
from app.tenancy.models import Tenant, TenantStatus


class TenantChoiceRequiredError(AppError):
    status_code = 400

    def __init__(self) -> None:
        super().__init__(
            "You belong to several tenants: choose one with the `tenant` field (slug or id)."
        )


class NotAMemberError(AppError):
    """One answer for an unknown tenant, an inactive one and one the user is not in."""

    status_code = 403

    def __init__(self) -> None:
        super().__init__("You are not a member of this tenant, or it is not active.")


async def active_memberships(
    session: AsyncSession, user_id: uuid.UUID
) -> list[tuple[Membership, Tenant]]:
    rows = await session.execute(
        select(Membership, Tenant)
        .join(Tenant, Tenant.id == Membership.tenant_id)
        .where(Membership.user_id == user_id, Tenant.status == TenantStatus.ACTIVE.value)
        .order_by(Tenant.slug)
    )
    return [(membership, tenant) for membership, tenant in rows]


def _names(tenant: Tenant, requested: str) -> bool:
    return tenant.slug == requested.lower() or str(tenant.id) == requested.lower()


async def select_tenant(
    session: AsyncSession, user_id: uuid.UUID, requested: str | None
) -> TenantGrant | None:
    """The tenant asked for (it must be one of the user's active ones); without a choice,
    the only one. A user with no membership signs in without a tenant (a platform-level
    account: it reaches no tenant's data)."""
    memberships = await active_memberships(session, user_id)
    if requested is not None:
        chosen = [(m, t) for m, t in memberships if _names(t, requested)]
        if not chosen:
            raise NotAMemberError
    elif len(memberships) > 1:
        raise TenantChoiceRequiredError
    else:
        chosen = memberships
    if not chosen:
        return None
    membership, tenant = chosen[0]
    return TenantGrant(tenant_id=str(tenant.id), role=membership.role)
