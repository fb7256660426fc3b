"""Tenants are managed by platform admins, memberships by the tenant's admins; another
tenant's items and members are a 404."""

import uuid

import httpx2
import pytest

from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.memberships.selector import NotAMemberError, select_tenant
from tests.auth.plugin import create_account
from tests.memberships.conftest import (
    ITEMS,
    ME,
    TENANTS,
    add_member,
    bearer_for,
    tenant,
)

PROBLEM = "application/problem+json"


async def test_items_of_another_tenant_are_404(
    anon: httpx2.AsyncClient, settings: Settings
) -> None:
    first, _ = await tenant(settings)
    second, _ = await tenant(settings)
    alice = await create_account(settings, ["user"])
    bob_admin = await create_account(settings, ["user", "admin"])
    await add_member(settings, alice.id, first)
    await add_member(settings, bob_admin.id, second)
    as_alice = bearer_for(settings, alice, first)
    as_bob = bearer_for(settings, bob_admin, second)

    created = await anon.post(ITEMS, json={"name": "lamp", "price": "1.00"}, headers=as_alice)
    assert created.status_code == 201, created.text
    url = f"{ITEMS}/{created.json()['id']}"
    # Even an admin of the platform's roles sees only the tenant their token is for.
    for method in ("GET", "PATCH", "DELETE"):
        body = {"name": "mine now"} if method == "PATCH" else None
        response = await anon.request(method, url, json=body, headers=as_bob)
        assert response.status_code == 404, (method, response.text)
        assert response.headers["content-type"] == PROBLEM
    assert created.json()["id"] not in (await anon.get(ITEMS, headers=as_bob)).text
    assert (await anon.get(url, headers=as_alice)).status_code == 200


async def test_platform_admins_manage_tenants(anon: httpx2.AsyncClient, settings: Settings) -> None:
    admin = await create_account(settings, ["user", "admin"])
    user = await create_account(settings, ["user"])
    as_admin, as_user = bearer_for(settings, admin, None), bearer_for(settings, user, None)
    slug = f"acme-{uuid.uuid4().hex[:8]}"

    assert (await anon.post(TENANTS, json={"slug": slug, "name": "Acme"})).status_code == 401
    assert (
        await anon.post(TENANTS, json={"slug": slug, "name": "Acme"}, headers=as_user)
    ).status_code == 403
    created = await anon.post(TENANTS, json={"slug": slug, "name": "Acme"}, headers=as_admin)
    assert created.status_code == 201, created.text
    duplicate = await anon.post(TENANTS, json={"slug": slug, "name": "Again"}, headers=as_admin)
    assert duplicate.status_code == 409
    listed = await anon.get(TENANTS, headers=as_admin)
    assert slug in listed.text
    assert (await anon.get(TENANTS, headers=as_user)).status_code == 403

    tenant_id = created.json()["id"]
    member = await create_account(settings, ["user"])
    await add_member(settings, member.id, uuid.UUID(tenant_id))
    as_member = bearer_for(settings, member, uuid.UUID(tenant_id))
    assert (await anon.get(ITEMS, headers=as_member)).status_code == 200
    deactivated = await anon.patch(
        f"{TENANTS}/{tenant_id}", json={"status": "inactive"}, headers=as_admin
    )
    assert deactivated.json()["status"] == "inactive"
    # Nobody signs in to it any more (its requests follow within the tenancy cache TTL).
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            with pytest.raises(NotAMemberError):
                await select_tenant(session, member.id, slug)
            assert await select_tenant(session, member.id, None) is None
    finally:
        await engine.dispose()
    missing = await anon.patch(
        f"{TENANTS}/{uuid.uuid4()}", json={"status": "inactive"}, headers=as_admin
    )
    assert missing.status_code == 404


async def test_tenant_admins_manage_their_members_only(
    anon: httpx2.AsyncClient, settings: Settings
) -> None:
    mine, _ = await tenant(settings)
    other, _ = await tenant(settings)
    boss = await create_account(settings, ["user"])
    member = await create_account(settings, ["user"])
    newcomer = await create_account(settings, ["user"])
    await add_member(settings, boss.id, mine, "admin")
    await add_member(settings, member.id, mine)
    as_boss, as_member = bearer_for(settings, boss, mine), bearer_for(settings, member, mine)
    members = f"{TENANTS}/{mine}/memberships"

    listed = await anon.get(members, headers=as_boss)
    assert listed.status_code == 200
    assert {row["user_id"] for row in listed.json()} == {str(boss.id), str(member.id)}
    added = await anon.post(members, json={"user_id": str(newcomer.id)}, headers=as_boss)
    assert added.status_code == 201, added.text
    assert added.json()["role"] == "member"
    again = await anon.post(members, json={"user_id": str(newcomer.id)}, headers=as_boss)
    assert again.status_code == 409
    nobody = await anon.post(members, json={"user_id": str(uuid.uuid4())}, headers=as_boss)
    assert nobody.status_code == 404

    # A plain member may not; another tenant's admin does not even see the tenant.
    assert (await anon.get(members, headers=as_member)).status_code == 403
    assert (await anon.get(f"{TENANTS}/{other}/memberships", headers=as_boss)).status_code == 404
    # A token for no tenant is not this tenant's admin either.
    assert (await anon.get(members, headers=bearer_for(settings, boss, None))).status_code == 404

    # Removed: the member's tokens stop working at once.
    as_newcomer = bearer_for(settings, newcomer, mine)
    assert (await anon.get(ITEMS, headers=as_newcomer)).status_code == 200
    removed = await anon.delete(f"{members}/{newcomer.id}", headers=as_boss)
    assert removed.status_code == 204
    assert (await anon.get(ME, headers=as_newcomer)).status_code == 401
    assert (await anon.delete(f"{members}/{newcomer.id}", headers=as_boss)).status_code == 404


async def test_platform_admins_bootstrap_a_tenant_admin(
    anon: httpx2.AsyncClient, settings: Settings
) -> None:
    admin = await create_account(settings, ["user", "admin"])
    boss = await create_account(settings, ["user"])
    tenant_id, _ = await tenant(settings)
    added = await anon.post(
        f"{TENANTS}/{tenant_id}/memberships",
        json={"user_id": str(boss.id), "role": "admin"},
        headers=bearer_for(settings, admin, None),
    )
    assert added.status_code == 201, added.text
    listed = await anon.get(
        f"{TENANTS}/{tenant_id}/memberships", headers=bearer_for(settings, boss, tenant_id)
    )
    assert listed.status_code == 200
