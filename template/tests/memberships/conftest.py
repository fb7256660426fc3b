"""Helpers for membership tests: real tokens (not re-signed by the plugin), tenants, members."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import jwt
import pytest

from app.auth.config import AuthSettings
from app.auth.models import User
from app.auth.tokens import TokenCodec
from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.memberships.models import Membership
from tests.conftest import running_client
from tests.memberships.plugin import token_tenants
from tests.tenancy.plugin import DefaultTenant, create_tenant

TOKEN = "/api/auth/token"
SWITCH = "/api/auth/switch-tenant"
ITEMS = "/api/items"
ME = "/api/users/me"
TENANTS = "/api/tenants"
HEADER = "X-Tenant-ID"


@pytest.fixture
async def anon(
    settings: Settings, default_tenant: DefaultTenant, _tokens_carry_the_header_tenant: None
) -> AsyncIterator[httpx2.AsyncClient]:
    """An anonymous client whose requests carry exactly what the test sends: no default
    tenant header, tokens as the app issued them."""
    default_tenant.send_header = False
    token_tenants.enabled = False
    async with running_client(settings, anonymous=True) as client:
        yield client


async def tenant(settings: Settings, *, active: bool = True) -> tuple[uuid.UUID, str]:
    slug = f"t-{uuid.uuid4().hex[:10]}"
    return await create_tenant(settings, slug, active=active), slug


async def add_member(
    settings: Settings, user_id: uuid.UUID | str, tenant_id: uuid.UUID, role: str = "member"
) -> None:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            session.add(Membership(user_id=uuid.UUID(str(user_id)), tenant_id=tenant_id, role=role))
            await session.commit()
    finally:
        await engine.dispose()


def bearer_for(settings: Settings, user: User, tenant_id: uuid.UUID | None) -> dict[str, str]:
    """What signing in to `tenant_id` (or to none) would hand this account."""
    token, _ = TokenCodec(AuthSettings(), settings).issue_access_token(
        str(user.id),
        frozenset(user.roles),
        tenant_id=str(tenant_id) if tenant_id is not None else None,
    )
    return {"Authorization": f"Bearer {token}"}


def claims(access_token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    return decoded


def auth_header(pair: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}
