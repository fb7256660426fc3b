"""Tenant resolution of requests: trust order, status of the tenant, per-tenant state."""

import re
import uuid
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from sqlalchemy import update
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.config import Settings
from app.core.db import create_engine
from app.core.principal import Principal
from app.tenancy import install_tenancy
from app.tenancy.config import TenancySettings
from app.tenancy.models import Tenant
from tests.conftest import credentials, identity_installers, running_client
from tests.tenancy.conftest import Tenants, as_tenant
from tests.tenancy.plugin import DefaultTenant, create_tenant

ITEMS = "/api/items"
ITEM = {"name": "lamp", "price": "10.00"}


class PrincipalOf:
    """Stands in for authentication: the verified token of a user of `tenant_id`."""

    def __init__(self, app: ASGIApp, tenant_id: str) -> None:
        self.app = app
        self.tenant_id = tenant_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            principal = Principal(subject="user-1", tenant_id=self.tenant_id)
            # A copy: the test lifespan manager shares one state dict between requests.
            scope["state"] = {**scope.get("state", {}), "principal": principal}
        await self.app(scope, receive, send)


def authenticated_as(tenant_id: uuid.UUID) -> Callable[[FastAPI], None]:
    def customize(app: FastAPI) -> None:
        app.add_middleware(PrincipalOf, tenant_id=str(tenant_id))

    return customize


async def set_status(settings: Settings, tenant_id: uuid.UUID, status: str) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(Tenant).where(Tenant.id == tenant_id).values(status=status)
            )
    finally:
        await engine.dispose()


async def test_the_token_tenant_wins_over_a_header(settings: Settings, tenants: Tenants) -> None:
    """T07: a header naming another tenant is ignored when the principal carries one."""
    async with running_client(settings) as client:
        created = await client.post(ITEMS, json=ITEM, headers=as_tenant(tenants.b))
    async with running_client(settings, authenticated_as(tenants.a)) as client:
        listed = await client.get(ITEMS, headers=as_tenant(tenants.b))
        foreign = await client.get(f"{ITEMS}/{created.json()['id']}", headers=as_tenant(tenants.b))
    assert listed.status_code == 200
    assert listed.json()["items"] == []
    assert foreign.status_code == 404


async def test_an_inactive_tenant_is_refused(
    settings: Settings, tenants: Tenants, default_tenant: DefaultTenant
) -> None:
    inactive = await create_tenant(settings, f"off-{uuid.uuid4().hex[:8]}", active=False)
    default_tenant.send_header = False
    async with running_client(settings) as client:
        refused = await client.get(ITEMS, headers=as_tenant(inactive))
    assert refused.status_code == 403
    assert refused.json()["detail"] == "The tenant does not exist or is not active."


async def test_a_deactivation_takes_effect_after_the_cache_time(
    settings: Settings, tenants: Tenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENANCY_CACHE_TTL_SECONDS", "0")
    async with running_client(settings) as client:
        assert (await client.get(ITEMS, headers=as_tenant(tenants.a))).status_code == 200
        await set_status(settings, tenants.a, "inactive")
        assert (await client.get(ITEMS, headers=as_tenant(tenants.a))).status_code == 403


async def test_lookups_are_cached(settings: Settings, tenants: Tenants) -> None:
    async with running_client(settings) as client:
        assert (await client.get(ITEMS, headers=as_tenant(tenants.a))).status_code == 200
        await set_status(settings, tenants.a, "inactive")
        # Within TENANCY_CACHE_TTL_SECONDS (5 s) the cached answer stands.
        assert (await client.get(ITEMS, headers=as_tenant(tenants.a))).status_code == 200


async def test_the_tenant_can_come_from_the_subdomain(
    settings: Settings, default_tenant: DefaultTenant
) -> None:
    slug = f"acme-{uuid.uuid4().hex[:8]}"
    tenant_id = await create_tenant(settings, slug)
    default_tenant.send_header = False
    by_subdomain = TenancySettings(_env_file=None, source="subdomain", base_domain="example.com")

    def use_subdomains(app: FastAPI) -> None:
        app.user_middleware.clear()  # drop the header-based resolver of create_app
        install_tenancy(app, by_subdomain)
        for install_identity in identity_installers:  # with auth: its middleware, outside
            install_identity(app, settings)

    # One caller throughout (with auth items are their creator's); anonymous without auth.
    caller = await credentials(settings)
    async with running_client(settings, use_subdomains, anonymous=True) as client:
        # The header is ignored with subdomains; it is there for signed-in callers (auth),
        # whose token must name the tenant (tests/memberships/plugin.py signs it from it).
        host = {"Host": f"{slug}.example.com"}
        created = await client.post(ITEMS, json=ITEM, headers=caller | host | as_tenant(tenant_id))
        bare = await client.get(ITEMS, headers={"Host": "example.com"})
        unknown = await client.get(ITEMS, headers={"Host": "nobody.example.com"})
    assert created.status_code == 201, created.text
    assert (bare.status_code, unknown.status_code) == (400, 403)
    async with running_client(settings, anonymous=True) as client:
        url = f"{ITEMS}/{created.json()['id']}"
        mine = await client.get(url, headers=caller | as_tenant(tenant_id))
    assert mine.status_code == 200


async def test_idempotency_keys_are_per_tenant(settings: Settings, tenants: Tenants) -> None:
    """The same key and body in two tenants are two requests, not a replay of the other's."""
    key = {"Idempotency-Key": "same-key"}
    async with running_client(settings) as client:
        first = await client.post(ITEMS, json=ITEM, headers=as_tenant(tenants.a) | key)
        second = await client.post(ITEMS, json=ITEM, headers=as_tenant(tenants.b) | key)
        replay = await client.post(ITEMS, json=ITEM, headers=as_tenant(tenants.b) | key)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert "idempotent-replayed" not in second.headers
    assert replay.json()["id"] == second.json()["id"]


async def test_log_lines_carry_the_tenant(
    settings: Settings, tenants: Tenants, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_client(settings) as client:
        await client.get(ITEMS, headers=as_tenant(tenants.a))
    output = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    assert f"tenant_id={tenants.a}" in output
