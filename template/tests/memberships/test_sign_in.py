"""Sign-in chooses the tenant; the token carries it; refresh keeps it; switching issues a
new pair; a header never overrides the token."""

import uuid
from typing import Any

import httpx2

from app.core.config import Settings
from tests.auth.conftest import PASSWORD, register
from tests.memberships.conftest import (
    HEADER,
    ITEMS,
    ME,
    SWITCH,
    TOKEN,
    add_member,
    auth_header,
    claims,
    tenant,
)

PROBLEM = "application/problem+json"


async def sign_in(
    client: httpx2.AsyncClient, email: str, tenant_ref: str | None = None
) -> httpx2.Response:
    form = {"username": email, "password": PASSWORD}
    if tenant_ref is not None:
        form["tenant"] = tenant_ref
    return await client.post(TOKEN, data=form)


async def pair(client: httpx2.AsyncClient, email: str, tenant_ref: str | None = None) -> Any:
    response = await sign_in(client, email, tenant_ref)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_new_account_belongs_to_no_tenant(anon: httpx2.AsyncClient) -> None:
    user = await register(anon)
    token = (await pair(anon, user["email"]))["access_token"]
    assert "tid" not in claims(token)
    # Its own account is reachable, tenant data is not, and a header cannot change that.
    assert (await anon.get(ME, headers={"Authorization": f"Bearer {token}"})).status_code == 200


async def test_the_only_tenant_is_chosen_and_carried(
    anon: httpx2.AsyncClient, settings: Settings
) -> None:
    user = await register(anon)
    tenant_id, _ = await tenant(settings)
    await add_member(settings, user["id"], tenant_id, "admin")
    token = (await pair(anon, user["email"]))["access_token"]
    assert claims(token)["tid"] == str(tenant_id)
    assert claims(token)["tenant_role"] == "admin"


async def test_several_tenants_need_a_choice(anon: httpx2.AsyncClient, settings: Settings) -> None:
    user = await register(anon)
    first, first_slug = await tenant(settings)
    second, _ = await tenant(settings)
    await add_member(settings, user["id"], first)
    await add_member(settings, user["id"], second)

    unchosen = await sign_in(anon, user["email"])
    assert unchosen.status_code == 400
    assert unchosen.headers["content-type"] == PROBLEM
    assert "tenant" in unchosen.json()["detail"]

    by_slug = await pair(anon, user["email"], first_slug)
    assert claims(by_slug["access_token"])["tid"] == str(first)
    by_id = await pair(anon, user["email"], str(second))
    assert claims(by_id["access_token"])["tid"] == str(second)


async def test_a_tenant_one_does_not_belong_to_is_refused(
    anon: httpx2.AsyncClient, settings: Settings
) -> None:
    user = await register(anon)
    mine, _ = await tenant(settings)
    foreign, foreign_slug = await tenant(settings)
    inactive, inactive_slug = await tenant(settings, active=False)
    await add_member(settings, user["id"], mine)
    await add_member(settings, user["id"], inactive)
    for ref in (foreign_slug, str(foreign), inactive_slug, "nobody"):
        refused = await sign_in(anon, user["email"], ref)
        assert refused.status_code == 403, ref
        assert refused.headers["content-type"] == PROBLEM
    # The inactive tenant does not count: the one active membership is chosen.
    assert claims((await pair(anon, user["email"]))["access_token"])["tid"] == str(mine)


async def test_refresh_keeps_the_tenant(anon: httpx2.AsyncClient, settings: Settings) -> None:
    user = await register(anon)
    first, first_slug = await tenant(settings)
    second, _ = await tenant(settings)
    await add_member(settings, user["id"], first)
    await add_member(settings, user["id"], second)
    signed_in = await pair(anon, user["email"], first_slug)
    refreshed = await anon.post(
        "/api/auth/refresh", json={"refresh_token": signed_in["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    assert claims(refreshed.json()["access_token"])["tid"] == str(first)


async def test_switching_issues_a_pair_for_another_own_tenant(
    anon: httpx2.AsyncClient, settings: Settings
) -> None:
    user = await register(anon)
    first, first_slug = await tenant(settings)
    second, second_slug = await tenant(settings)
    _, foreign_slug = await tenant(settings)
    await add_member(settings, user["id"], first)
    await add_member(settings, user["id"], second, "admin")
    signed_in = await pair(anon, user["email"], first_slug)

    switched = await anon.post(SWITCH, json={"tenant": second_slug}, headers=auth_header(signed_in))
    assert switched.status_code == 200, switched.text
    assert claims(switched.json()["access_token"])["tid"] == str(second)
    assert claims(switched.json()["access_token"])["tenant_role"] == "admin"
    refreshed = await anon.post(
        "/api/auth/refresh", json={"refresh_token": switched.json()["refresh_token"]}
    )
    assert claims(refreshed.json()["access_token"])["tid"] == str(second)

    refused = await anon.post(SWITCH, json={"tenant": foreign_slug}, headers=auth_header(signed_in))
    assert refused.status_code == 403
    assert (await anon.post(SWITCH, json={"tenant": second_slug})).status_code == 401


async def test_a_header_never_overrides_the_token(
    anon: httpx2.AsyncClient, settings: Settings
) -> None:
    user = await register(anon)
    mine, mine_slug = await tenant(settings)
    other, _ = await tenant(settings)
    await add_member(settings, user["id"], mine)
    signed_in = await pair(anon, user["email"], mine_slug)
    headers = auth_header(signed_in) | {HEADER: str(other)}

    created = await anon.post(ITEMS, json={"name": "lamp", "price": "1.00"}, headers=headers)
    assert created.status_code == 201, created.text
    listed = await anon.get(ITEMS, headers=headers)
    assert created.json()["id"] in listed.text
    # The item landed in the token's tenant: the other one, named by header alone, lacks it.
    foreign = await anon.get(f"{ITEMS}/{created.json()['id']}", headers={HEADER: str(other)})
    assert foreign.status_code == 404


async def test_a_token_without_tenant_gets_no_tenant_from_a_header(
    anon: httpx2.AsyncClient, settings: Settings
) -> None:
    user = await register(anon)
    other, _ = await tenant(settings)
    headers = auth_header(await pair(anon, user["email"])) | {HEADER: str(other)}
    for response in (
        await anon.get(ITEMS, headers=headers),
        await anon.post(ITEMS, json={"name": "lamp", "price": "1.00"}, headers=headers),
    ):
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == PROBLEM
        assert "no tenant" in response.json()["detail"]
    assert (await anon.get(ME, headers=headers)).status_code == 200


async def test_sign_in_needs_no_tenant_header(anon: httpx2.AsyncClient) -> None:
    user = await register(anon)
    assert (await sign_in(anon, user["email"])).status_code == 200
    assert (await sign_in(anon, user["email"], "bad tenant!")).status_code == 422
    assert uuid.UUID(user["id"])
