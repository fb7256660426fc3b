"""API1 / T-series: every route of the app, called across tenants (the inventory is the app).

Each route is listed by name in MATRIX with the check that proves it isolates tenants; a
route added without a row fails `test_every_route_has_a_row`, so nothing ships unexamined.
Another tenant's object is a 404 (never 403, never 2xx) and is left unchanged; lists show
only the caller's rows; what a tenant creates belongs to it. Routes without tenant data
(health, metrics, docs) answer without a tenant; every other route refuses a request that
names none (400) or names an unknown tenant (403).
"""

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from app.core.tenant import EXEMPT_PATHS_KEY
from app.main import create_app
from app.tenancy.middleware import DOCS_SUFFIXES
from tests.conftest import make_settings
from tests.tenancy.conftest import Tenants, as_tenant

PROBLEM = "application/problem+json"
TENANT_FREE_PATHS: list[re.Pattern[str]] = []
Check = Callable[[httpx2.AsyncClient, "RouteCase", Tenants], Awaitable[None]]


class RouteCase:
    def __init__(self, name: str, method: str, path: str, body_fields: set[str]) -> None:
        self.name, self.method, self.path, self.body_fields = name, method, path, body_fields
        self.create_fields: set[str] = set()

    @property
    def collection(self) -> str:
        return self.path.removesuffix("/{item_id}")

    def item_body(self, label: str) -> dict[str, Any]:
        name_field = "title" if "title" in self.create_fields else "name"
        return {name_field: label, "price": "1.00", "quantity": 1}

    def __repr__(self) -> str:
        return f"{self.method} {self.path} ({self.name})"


def _body_fields(route: Any) -> set[str]:
    if not isinstance(route, APIRoute) or route.body_field is None:
        return set()
    model = route.body_field.field_info.annotation
    return set(getattr(model, "model_fields", {}))


def route_cases() -> list[RouteCase]:
    app = create_app(make_settings(docs_enabled=True))
    # Routes the app itself serves without a tenant (sign-in, with auth).
    TENANT_FREE_PATHS.extend(getattr(app.state, EXEMPT_PATHS_KEY, ()))
    cases = [
        RouteCase(str(context.name), method, str(context.path), _body_fields(context.route))
        for context in iter_route_contexts(app.routes)
        for method in sorted(context.methods or ())
        if method != "HEAD"
    ]
    # Objects are created through the POST of their collection, in that API version's shape.
    created_with = {case.path: case.body_fields for case in cases if case.method == "POST"}
    for case in cases:
        case.create_fields = created_with.get(case.collection, set())
    return cases


async def _create(client: httpx2.AsyncClient, case: RouteCase, tenant: uuid.UUID) -> str:
    body = case.item_body(f"owned-by-{tenant}")
    response = await client.post(case.collection, json=body, headers=as_tenant(tenant))
    assert response.status_code == 201, response.text
    item_id: str = response.json()["id"]
    return item_id


async def foreign_object_is_404_and_unchanged(
    client: httpx2.AsyncClient, case: RouteCase, tenants: Tenants
) -> None:
    item_id = await _create(client, case, tenants.a)
    url = case.path.replace("{item_id}", item_id)
    before = await client.get(url, headers=as_tenant(tenants.a))
    kwargs: dict[str, Any] = {"headers": as_tenant(tenants.b)}
    if case.method == "PATCH":
        kwargs["json"] = {"quantity": 99}
    response = await client.request(case.method, url, **kwargs)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == PROBLEM
    after = await client.get(url, headers=as_tenant(tenants.a))
    assert after.status_code == 200
    assert after.json() == before.json()


async def list_shows_only_own_rows(
    client: httpx2.AsyncClient, case: RouteCase, tenants: Tenants
) -> None:
    foreign = await _create(client, case, tenants.a)
    own = await _create(client, case, tenants.b)
    response = await client.get(case.path, headers=as_tenant(tenants.b))
    assert response.status_code == 200
    assert own in response.text
    assert foreign not in response.text
    # Ids of another tenant in the query change nothing either (API1-02).
    probe = await client.get(case.path, params={"name": foreign}, headers=as_tenant(tenants.b))
    assert foreign not in probe.text


async def created_row_belongs_to_the_caller(
    client: httpx2.AsyncClient, case: RouteCase, tenants: Tenants
) -> None:
    item_id = await _create(client, case, tenants.b)
    url = f"{case.collection}/{item_id}"
    assert (await client.get(url, headers=as_tenant(tenants.b))).status_code == 200
    assert (await client.get(url, headers=as_tenant(tenants.a))).status_code == 404
    # A tenant named in the body is not a field (no mass assignment of tenant_id).
    body = case.item_body("smuggled") | {"tenant_id": str(tenants.a)}
    smuggled = await client.post(case.collection, json=body, headers=as_tenant(tenants.b))
    assert smuggled.status_code == 422


async def accounts_are_not_tenant_data(
    client: httpx2.AsyncClient, case: RouteCase, tenants: Tenants
) -> None:
    """Accounts, sessions and tenants themselves live outside any tenant: reading them
    answers the same from either tenant, and nothing else fails."""
    url = case.path.replace("{tenant_id}", str(uuid.uuid4())).replace(
        "{user_id}", str(uuid.uuid4())
    )
    first = await client.request(case.method, url, headers=as_tenant(tenants.a))
    assert first.status_code < 500, first.text
    if case.method == "GET":
        second = await client.request(case.method, url, headers=as_tenant(tenants.b))
        assert first.status_code == second.status_code
        if first.status_code == 200:
            assert first.content == second.content


async def foreign_memberships_are_404(
    client: httpx2.AsyncClient, case: RouteCase, tenants: Tenants
) -> None:
    """A caller signed in to tenant b (and no platform admin) cannot see tenant a's members."""
    url = case.path.replace("{tenant_id}", str(tenants.a)).replace("{user_id}", str(uuid.uuid4()))
    body = {"user_id": str(uuid.uuid4())} if case.method == "POST" else None
    response = await client.request(case.method, url, json=body, headers=as_tenant(tenants.b))
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == PROBLEM


async def no_tenant_data(client: httpx2.AsyncClient, case: RouteCase, tenants: Tenants) -> None:
    """Describes the service, not a tenant's data: the same answer for both tenants."""
    first = await client.request(case.method, case.path, headers=as_tenant(tenants.a))
    second = await client.request(case.method, case.path, headers=as_tenant(tenants.b))
    assert first.status_code == second.status_code == 200
    assert first.content == second.content


async def foreign_export_is_404(
    client: httpx2.AsyncClient, case: RouteCase, tenants: Tenants
) -> None:
    """celery: an export is its tenant's; another tenant's id answers like a missing one."""
    collection = case.path.split("/exports/")[0] + "/exports"
    started = await client.post(f"{collection}/items", headers=as_tenant(tenants.a))
    assert started.status_code == 202, started.text
    url = case.path.replace("{export_id}", started.json()["id"]).replace("/items", "")
    if case.method == "POST":
        url = f"{collection}/{started.json()['id']}"
    foreign = await client.get(url, headers=as_tenant(tenants.b))
    assert foreign.status_code == 404, foreign.text
    assert foreign.headers["content-type"] == PROBLEM


async def served_in_each_tenant(
    client: httpx2.AsyncClient, case: RouteCase, tenants: Tenants
) -> None:
    """No tenant data in the answer (a ticket carries the caller's tenant, checked over a
    WebSocket in tests/ws/test_with_tenancy.py; the demo page is static)."""
    for tenant in (tenants.a, tenants.b):
        response = await client.request(case.method, case.path, headers=as_tenant(tenant))
        assert response.status_code in {200, 201}, response.text


MATRIX: dict[str, Check] = {
    "list_items": list_shows_only_own_rows,
    "create_item": created_row_belongs_to_the_caller,
    "read_item": foreign_object_is_404_and_unchanged,
    "update_item": foreign_object_is_404_and_unchanged,
    "delete_item": foreign_object_is_404_and_unchanged,
    # api_versioning: the discovery document lists versions, the same for everybody.
    "list_versions": no_tenant_data,
    # celery
    "start_items_export": foreign_export_is_404,
    "get_export": foreign_export_is_404,
    "download_export": foreign_export_is_404,
    # websockets
    "create_websocket_ticket": served_in_each_tenant,
    "demo_page": served_in_each_tenant,
    # auth: the caller's account and sessions, and user administration.
    "logout": accounts_are_not_tenant_data,
    "read_me": accounts_are_not_tenant_data,
    "update_me": accounts_are_not_tenant_data,
    "change_password": accounts_are_not_tenant_data,
    "list_users": accounts_are_not_tenant_data,
    "read_user": accounts_are_not_tenant_data,
    "administer_user": accounts_are_not_tenant_data,
    "delete_user": accounts_are_not_tenant_data,
    # auth x multi_tenancy (tests/memberships covers them in depth).
    "switch_tenant": accounts_are_not_tenant_data,
    "create_tenant": accounts_are_not_tenant_data,
    "list_tenants": accounts_are_not_tenant_data,
    "update_tenant": accounts_are_not_tenant_data,
    "list_memberships": foreign_memberships_are_404,
    "add_membership": foreign_memberships_are_404,
    "remove_membership": foreign_memberships_are_404,
}
TENANT_FREE_PREFIXES = ("/health/", "/metrics")
CASES = route_cases()


def is_tenant_free(case: RouteCase) -> bool:
    return (
        case.path.startswith(TENANT_FREE_PREFIXES)
        or case.path.endswith(DOCS_SUFFIXES)
        or any(pattern.fullmatch(case.path) for pattern in TENANT_FREE_PATHS)
    )


TENANT_ROUTES = [case for case in CASES if not is_tenant_free(case)]


def test_every_route_has_a_row() -> None:
    missing = [case for case in TENANT_ROUTES if case.name not in MATRIX]
    assert missing == [], "add these routes to MATRIX with a cross-tenant check"


@pytest.mark.parametrize("case", [c for c in CASES if c.name in MATRIX], ids=repr)
async def test_route_isolates_tenants(
    client: httpx2.AsyncClient, tenants: Tenants, case: RouteCase
) -> None:
    await MATRIX[case.name](client, case, tenants)


@pytest.mark.parametrize("case", TENANT_ROUTES, ids=repr)
async def test_route_refuses_a_request_without_a_known_tenant(
    bare_client: httpx2.AsyncClient, tenants: Tenants, case: RouteCase
) -> None:
    url = case.path.replace("{item_id}", str(uuid.uuid4()))
    missing = await bare_client.request(case.method, url)
    assert missing.status_code == 400, missing.text
    assert missing.headers["content-type"] == PROBLEM
    unknown = await bare_client.request(case.method, url, headers=as_tenant(uuid.uuid4()))
    assert unknown.status_code == 403, unknown.text
    malformed = await bare_client.request(case.method, url, headers=as_tenant("acme' OR 1=1"))
    assert malformed.status_code == 400, malformed.text


@pytest.mark.parametrize(
    "case", [c for c in CASES if is_tenant_free(c) and c.name not in MATRIX], ids=repr
)
async def test_tenant_free_route_needs_no_tenant(
    client_for: Callable[..., Any], default_tenant: Any, case: RouteCase
) -> None:
    default_tenant.send_header = False
    async with client_for(docs_enabled=True) as client:
        response = await client.request(case.method, case.path)
    assert response.status_code not in (400, 403), response.text
