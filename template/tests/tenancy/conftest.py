"""Two tenants and clients that speak for one of them, for the isolation tests."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx2
import pytest

from app.core.config import Settings
from app.tenancy.config import TenancySettings
from tests.conftest import running_client
from tests.tenancy.plugin import DefaultTenant, create_tenant

HEADER = TenancySettings.model_fields["header"].default


@dataclass(frozen=True, slots=True)
class Tenants:
    a: uuid.UUID
    b: uuid.UUID


def as_tenant(tenant_id: uuid.UUID | str) -> dict[str, str]:
    return {HEADER: str(tenant_id)}


@pytest.fixture
async def tenants(settings: Settings) -> Tenants:
    return Tenants(
        a=await create_tenant(settings, f"a-{uuid.uuid4().hex[:8]}"),
        b=await create_tenant(settings, f"b-{uuid.uuid4().hex[:8]}"),
    )


@pytest.fixture
async def bare_client(
    settings: Settings, default_tenant: DefaultTenant
) -> AsyncIterator[httpx2.AsyncClient]:
    """An anonymous client whose requests name no tenant unless they send the header
    themselves (signed in, the token would name the tenant instead)."""
    default_tenant.send_header = False
    async with running_client(settings, anonymous=True) as client:
        yield client
