"""Switching tenant, tenants (platform admins) and memberships (tenant admins) over HTTP.

A platform admin holds auth's `admin` role; a tenant admin holds the membership role
`admin` and a token for that tenant. Another tenant's memberships are a 404 for everybody
else, as any other tenant's data is.
"""

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import service
from app.auth.context import AuthDep, RequestAuth
from app.auth.dependencies import ADMIN, AdminUser, CurrentPrincipal, CurrentUser
from app.auth.errors import ForbiddenError, UserNotFoundError
from app.auth.models import User
from app.auth.revocations import user_key
from app.auth.schemas import TokenPair
from app.core.db import SessionDep
from app.core.errors import ConflictError, NotFoundError, error_responses
from app.core.principal import Principal
from app.memberships.models import Membership, TenantRole
from app.memberships.schemas import (
    MembershipCreate,
    MembershipRead,
    TenantCreate,
    TenantRead,
    TenantSwitch,
    TenantUpdate,
)
from app.tenancy.models import Tenant

router = APIRouter(tags=["tenants"])


class TenantNotFoundError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("Tenant not found.")


class MembershipNotFoundError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("Membership not found.")


@router.post(
    "/auth/switch-tenant",
    name="switch_tenant",
    responses=error_responses(400, 401, 403, 413, 422, 500),
)
async def switch_tenant(
    choice: TenantSwitch, user: CurrentUser, session: SessionDep, auth: AuthDep, response: Response
) -> TokenPair:
    """A new token pair for another tenant you belong to (by slug or id). The current pair
    keeps working for its own tenant until it expires or you sign it out."""
    response.headers.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
    return await service.start_session(session, auth, user, choice.tenant)


@router.post(
    "/tenants",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 409, 413, 422, 500),
)
async def create_tenant(data: TenantCreate, _admin: AdminUser, session: SessionDep) -> TenantRead:
    """Create an active tenant (platform admins only)."""
    tenant = Tenant(slug=data.slug, name=data.name)
    session.add(tenant)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise ConflictError("A tenant with this slug already exists.") from None
    return TenantRead.model_validate(tenant)


@router.get("/tenants", responses=error_responses(401, 403, 422, 500))
async def list_tenants(_admin: AdminUser, session: SessionDep) -> list[TenantRead]:
    """Every tenant, by slug (platform admins only)."""
    tenants = await session.scalars(select(Tenant).order_by(Tenant.slug))
    return [TenantRead.model_validate(tenant) for tenant in tenants]


@router.patch("/tenants/{tenant_id}", responses=error_responses(400, 401, 403, 404, 413, 422, 500))
async def update_tenant(
    tenant_id: uuid.UUID, change: TenantUpdate, _admin: AdminUser, session: SessionDep
) -> TenantRead:
    """Deactivate (or reactivate) a tenant (platform admins only). Its requests are refused
    once the tenancy cache expires (TENANCY_CACHE_TTL_SECONDS); its members can no longer
    sign in to it or refresh into it."""
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise TenantNotFoundError
    tenant.status = change.status
    await session.commit()
    return TenantRead.model_validate(tenant)


async def _administered_tenant(
    session: AsyncSession, user: User, principal: Principal, tenant_id: uuid.UUID
) -> Tenant:
    """The tenant, when the caller may manage its memberships; 404 when it is not theirs."""
    if ADMIN not in user.roles:
        if principal.tenant_id != str(tenant_id):
            raise TenantNotFoundError
        role = await session.scalar(
            select(Membership.role).where(
                Membership.user_id == user.id, Membership.tenant_id == tenant_id
            )
        )
        if role != TenantRole.ADMIN.value:
            raise ForbiddenError
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise TenantNotFoundError
    return tenant


@router.get("/tenants/{tenant_id}/memberships", responses=error_responses(401, 403, 404, 422, 500))
async def list_memberships(
    tenant_id: uuid.UUID, user: CurrentUser, principal: CurrentPrincipal, session: SessionDep
) -> list[MembershipRead]:
    """The tenant's members (its admins, or platform admins)."""
    await _administered_tenant(session, user, principal, tenant_id)
    rows = await session.scalars(
        select(Membership).where(Membership.tenant_id == tenant_id).order_by(Membership.created_at)
    )
    return [MembershipRead.model_validate(row) for row in rows]


@router.post(
    "/tenants/{tenant_id}/memberships",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 404, 409, 413, 422, 500),
)
async def add_membership(
    tenant_id: uuid.UUID,
    data: MembershipCreate,
    user: CurrentUser,
    principal: CurrentPrincipal,
    session: SessionDep,
) -> MembershipRead:
    """Add an existing account to the tenant (its admins, or platform admins)."""
    await _administered_tenant(session, user, principal, tenant_id)
    if await session.get(User, data.user_id) is None:
        raise UserNotFoundError
    membership = Membership(user_id=data.user_id, tenant_id=tenant_id, role=data.role.value)
    session.add(membership)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise ConflictError("This user is already a member of the tenant.") from None
    return MembershipRead.model_validate(membership)


@router.delete(
    "/tenants/{tenant_id}/memberships/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 422, 500),
)
async def remove_membership(
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    user: CurrentUser,
    principal: CurrentPrincipal,
    session: SessionDep,
    auth: AuthDep,
) -> None:
    """Remove someone from the tenant; their tokens stop working at once (all of them:
    access tokens do not say which were for this tenant, so they sign in again)."""
    await _administered_tenant(session, user, principal, tenant_id)
    membership = await session.scalar(
        select(Membership).where(Membership.tenant_id == tenant_id, Membership.user_id == user_id)
    )
    if membership is None:
        raise MembershipNotFoundError
    await session.delete(membership)
    await session.commit()
    await _refuse_current_tokens(auth, user_id)


async def _refuse_current_tokens(auth: RequestAuth, user_id: uuid.UUID) -> None:
    ttl = auth.settings.access_token_ttl_seconds + auth.settings.leeway_seconds
    await auth.revocations.revoke(user_key(str(user_id)), datetime.now(UTC), ttl)
