"""Who may call what (catalogue API1, API3, API5): the role x route matrix over every route
of the app, object-level access to items, and fields nobody may set on themselves."""

import itertools
import re
import uuid
from collections.abc import AsyncIterator
from enum import Enum

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from fastapi.routing import iter_route_contexts
from starlette.types import ASGIApp

from app.core.config import Settings
from app.main import create_app
from tests.auth.conftest import ITEMS, ME, REGISTER, account, auth_header, register, tokens
from tests.conftest import BASE_URL, credentials, make_settings


class Access(Enum):
    PUBLIC = "anyone"
    OPTIONAL = "anyone; a signed-in caller sees their own"
    USER = "signed-in users"
    ADMIN = "admins"


# Every route of the app, by method and path (API versions folded into /api/...). A route
# missing here fails the test: new routes are denied by default until someone decides.
MATRIX: dict[tuple[str, str], Access] = {
    ("GET", "/openapi.json"): Access.PUBLIC,
    ("GET", "/docs"): Access.PUBLIC,
    ("GET", "/docs/oauth2-redirect"): Access.PUBLIC,
    ("GET", "/redoc"): Access.PUBLIC,
    ("GET", "/health/live"): Access.PUBLIC,
    ("GET", "/health/ready"): Access.PUBLIC,
    ("GET", "/metrics"): Access.PUBLIC,
    ("GET", "/api/openapi.json"): Access.PUBLIC,
    ("GET", "/api/docs"): Access.PUBLIC,
    ("GET", "/api/versions"): Access.PUBLIC,
    ("POST", "/api/auth/register"): Access.PUBLIC,
    ("POST", "/api/auth/token"): Access.PUBLIC,
    ("POST", "/api/auth/refresh"): Access.PUBLIC,
    ("POST", "/api/auth/password-reset"): Access.PUBLIC,
    ("POST", "/api/auth/password-reset/confirm"): Access.PUBLIC,
    ("GET", "/api/items"): Access.OPTIONAL,
    ("GET", "/api/items/{item_id}"): Access.OPTIONAL,
    ("POST", "/api/items"): Access.USER,
    ("PATCH", "/api/items/{item_id}"): Access.USER,
    ("DELETE", "/api/items/{item_id}"): Access.USER,
    ("POST", "/api/auth/logout"): Access.USER,
    ("GET", "/api/users/me"): Access.USER,
    ("PATCH", "/api/users/me"): Access.USER,
    ("POST", "/api/users/me/password"): Access.USER,
    ("GET", "/api/users"): Access.ADMIN,
    ("GET", "/api/users/{user_id}"): Access.ADMIN,
    ("PATCH", "/api/users/{user_id}"): Access.ADMIN,
    ("DELETE", "/api/users/{user_id}"): Access.ADMIN,
    # celery: an export holds what its caller may read (their own items when signed in).
    ("POST", "/api/exports/items"): Access.OPTIONAL,
    ("GET", "/api/exports/{export_id}"): Access.OPTIONAL,
    ("GET", "/api/exports/{export_id}/download"): Access.OPTIONAL,
    # websockets: with auth installed a WebSocket needs a signed-in user (a ticket first).
    ("POST", "/api/ws/tickets"): Access.USER,
    ("GET", "/ws/demo"): Access.PUBLIC,
    # With multi-tenancy (app/memberships). Membership routes answer signed-in users: 404 for
    # a tenant that is not theirs, 403 unless they are its admin (tests/memberships).
    ("POST", "/api/auth/switch-tenant"): Access.USER,
    ("POST", "/api/tenants"): Access.ADMIN,
    ("GET", "/api/tenants"): Access.ADMIN,
    ("PATCH", "/api/tenants/{tenant_id}"): Access.ADMIN,
    ("GET", "/api/tenants/{tenant_id}/memberships"): Access.USER,
    ("POST", "/api/tenants/{tenant_id}/memberships"): Access.USER,
    ("DELETE", "/api/tenants/{tenant_id}/memberships/{user_id}"): Access.USER,
}
VERSION = re.compile(r"^/api/v\d+(?=/|$)")
PARAMETER = re.compile(r"\{[^}]+\}")
DENIED = {401, 403}
_addresses = itertools.count(1)


def operations() -> list[tuple[str, str]]:
    """(method, path) of every route the app serves, each API version separately."""
    found = set()
    for context in iter_route_contexts(create_app(make_settings()).routes):
        for method in getattr(context, "methods", None) or ():
            if method != "HEAD" and context.path is not None:
                found.add((method, context.path))
    return sorted(found)


OPERATIONS = operations()


def entry(method: str, path: str) -> tuple[str, str]:
    return method, VERSION.sub("/api", path)


def test_every_route_has_an_entry() -> None:
    missing = [f"{m} {p}" for m, p in OPERATIONS if entry(m, p) not in MATRIX]
    assert missing == [], "add these routes to MATRIX (who may call them?)"


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[ASGIApp]:
    async with LifespanManager(create_app(settings)) as manager:
        yield manager.app


async def call(app: ASGIApp, method: str, path: str, headers: dict[str, str]) -> httpx2.Response:
    # Each call from its own address, so per-client rate limits (where present) stay out of it.
    address = f"198.51.{next(_addresses) // 250 % 250}.{next(_addresses) % 250 + 1}"
    transport = httpx2.ASGITransport(app=app, client=(address, 50_000))
    url = PARAMETER.sub(str(uuid.uuid4()), path)
    async with httpx2.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        if path.endswith("/auth/token"):
            return await client.post(url, data={}, headers=headers)
        body: dict[str, object] | None = {} if method in {"POST", "PATCH", "PUT"} else None
        return await client.request(method, url, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
async def test_role_matrix(app: ASGIApp, settings: Settings, method: str, path: str) -> None:
    access = MATRIX[entry(method, path)]
    anonymous = await call(app, method, path, {})
    user = await call(app, method, path, await credentials(settings, "user"))
    admin = await call(app, method, path, await credentials(settings, "admin"))
    if access in {Access.PUBLIC, Access.OPTIONAL}:
        assert anonymous.status_code not in DENIED
    else:
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == "Bearer"
    if access is Access.ADMIN:
        assert user.status_code == 403
    else:
        assert user.status_code not in DENIED
    assert admin.status_code not in DENIED


class TestItemsBelongToTheirCreator:
    """API1 (BOLA): another user's item does not exist for you; admins see every item."""

    async def test_other_users_get_404_and_change_nothing(
        self, anon: httpx2.AsyncClient, settings: Settings
    ) -> None:
        _, alice = await account(settings)
        _, bob = await account(settings)
        _, admin = await account(settings, "user", "admin")
        created = await anon.post(
            ITEMS, json={"name": "alice's lamp", "price": "10.00"}, headers=alice
        )
        assert created.status_code == 201
        item = created.json()
        url = f"{ITEMS}/{item['id']}"

        assert (await anon.get(url, headers=bob)).status_code == 404
        assert (await anon.patch(url, json={"name": "bob's now"}, headers=bob)).status_code == 404
        assert (await anon.delete(url, headers=bob)).status_code == 404
        assert (await anon.get(ITEMS, headers=bob)).json()["items"] == []
        # The same answer as for an id that exists nowhere.
        missing_id = uuid.uuid4()
        missing = (await anon.get(f"{ITEMS}/{missing_id}", headers=bob)).json()
        foreign = (await anon.get(url, headers=bob)).json()
        assert foreign["detail"] == missing["detail"].replace(str(missing_id), item["id"])

        mine = await anon.get(url, headers=alice)
        assert mine.status_code == 200
        assert mine.json() == item
        assert [i["id"] for i in (await anon.get(ITEMS, headers=alice)).json()["items"]] == [
            item["id"]
        ]
        assert (await anon.get(url, headers=admin)).status_code == 200
        assert (await anon.patch(url, json={"quantity": 2}, headers=admin)).status_code == 200

    async def test_anonymous_callers_see_nothing_and_write_nothing(
        self, anon: httpx2.AsyncClient, settings: Settings
    ) -> None:
        _, alice = await account(settings)
        item = (
            await anon.post(ITEMS, json={"name": "lamp", "price": "1.00"}, headers=alice)
        ).json()
        assert (await anon.get(ITEMS)).json()["items"] == []
        assert (await anon.get(f"{ITEMS}/{item['id']}")).status_code == 404
        refused = await anon.post(ITEMS, json={"name": "lamp", "price": "1.00"})
        assert refused.status_code == 401
        assert (await anon.delete(f"{ITEMS}/{item['id']}")).status_code == 401

    async def test_owner_cannot_be_chosen(
        self, anon: httpx2.AsyncClient, settings: Settings
    ) -> None:
        bob_user, _ = await account(settings)
        _, alice = await account(settings)
        forged = await anon.post(
            ITEMS, json={"name": "x", "price": "1.00", "owner_id": str(bob_user.id)}, headers=alice
        )
        assert forged.status_code == 422
        item = (await anon.post(ITEMS, json={"name": "x", "price": "1.00"}, headers=alice)).json()
        moved = await anon.patch(
            f"{ITEMS}/{item['id']}", json={"owner_id": str(bob_user.id)}, headers=alice
        )
        assert moved.status_code == 422

    async def test_deleting_a_user_deletes_their_items(
        self, anon: httpx2.AsyncClient, settings: Settings
    ) -> None:
        alice_user, alice = await account(settings)
        _, admin = await account(settings, "user", "admin")
        item = (await anon.post(ITEMS, json={"name": "x", "price": "1.00"}, headers=alice)).json()
        assert (await anon.delete(f"/api/users/{alice_user.id}", headers=admin)).status_code == 204
        assert (await anon.get(f"{ITEMS}/{item['id']}", headers=admin)).status_code == 404


class TestMassAssignment:
    """API3: nobody sets their own roles, active flag, id or tenant."""

    @pytest.mark.parametrize(
        "field",
        [
            {"roles": ["admin"]},
            {"is_active": False},
            {"id": str(uuid.uuid4())},
            {"tenant_id": "t2"},
            {"is_superuser": True},
        ],
    )
    async def test_registration(self, anon: httpx2.AsyncClient, field: dict[str, object]) -> None:
        body = {"email": "mass@example.com", "password": "correct horse battery staple", **field}
        assert (await anon.post(REGISTER, json=body)).status_code == 422
        assert (await register(anon, email="mass@example.com"))["roles"] == ["user"]

    @pytest.mark.parametrize(
        "field",
        [
            {"roles": ["admin"]},
            {"is_active": False},
            {"id": str(uuid.uuid4())},
            {"email": "new@example.com"},
            {"hashed_password": "x"},
        ],
    )
    async def test_own_profile(self, anon: httpx2.AsyncClient, field: dict[str, object]) -> None:
        user = await register(anon)
        headers = auth_header((await tokens(anon, user["email"]))["access_token"])
        response = await anon.patch(ME, json={"full_name": "Mallory", **field}, headers=headers)
        assert response.status_code == 422
        assert (await anon.get(ME, headers=headers)).json() == user

    async def test_profile_update(self, anon: httpx2.AsyncClient) -> None:
        user = await register(anon)
        headers = auth_header((await tokens(anon, user["email"]))["access_token"])
        changed = await anon.patch(ME, json={"full_name": "Ada Lovelace"}, headers=headers)
        assert changed.status_code == 200
        assert changed.json() == {**user, "full_name": "Ada Lovelace"}
        assert "hashed_password" not in changed.text


class TestAdministration:
    async def test_list_pages_read_and_change(
        self, anon: httpx2.AsyncClient, settings: Settings
    ) -> None:
        _, admin = await account(settings, "user", "admin")
        others = [(await account(settings))[0] for _ in range(3)]
        first = (await anon.get("/api/users", params={"limit": 2}, headers=admin)).json()
        second = (
            await anon.get(
                "/api/users", params={"limit": 2, "cursor": first["next_cursor"]}, headers=admin
            )
        ).json()
        assert len(first["users"]) == 2
        assert len(second["users"]) == 2
        assert second["next_cursor"] is None
        target = others[0].id
        assert (await anon.get(f"/api/users/{target}", headers=admin)).json()["roles"] == ["user"]
        promoted = await anon.patch(
            f"/api/users/{target}", json={"roles": ["user", "admin"]}, headers=admin
        )
        assert promoted.json()["roles"] == ["admin", "user"]
        unknown = await anon.patch(f"/api/users/{target}", json={"roles": ["root"]}, headers=admin)
        assert unknown.status_code == 422
        assert (await anon.get(f"/api/users/{uuid.uuid4()}", headers=admin)).status_code == 404
        assert "hashed_password" not in (await anon.get("/api/users", headers=admin)).text


async def test_idempotency_keys_are_per_caller(
    anon: httpx2.AsyncClient, settings: Settings
) -> None:
    """Bob reusing Alice's key creates his own item: no replay of hers, no 422."""
    _, alice = await account(settings)
    _, bob = await account(settings)
    body = {"name": "lamp", "price": "1.00"}
    key = {"Idempotency-Key": "shared-key-0001"}
    first = await anon.post(ITEMS, json=body, headers=alice | key)
    other = await anon.post(ITEMS, json=body, headers=bob | key)
    again = await anon.post(ITEMS, json=body, headers=alice | key)
    assert first.status_code == other.status_code == again.status_code == 201
    assert other.json()["id"] != first.json()["id"]
    assert "idempotent-replayed" not in other.headers
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
