"""Tenant memberships: where auth and multi-tenancy meet (present only when both are on).

Users belong to tenants through memberships with a tenant role (`member`, `admin`). Sign-in
picks the tenant (auth's `tenant_selector` hook, app/memberships/selector.py) and the access
token carries it as `tid`; tenancy's middleware then takes the tenant from the token and never
from a header. Wiring, done by the template: `install_memberships(app)` in app/main.py after
`install_auth`, the router in app/api.py, the model in app/models.py.
"""

import dataclasses

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.routing import compile_path

from app.auth.context import STATE_KEY, AuthContext
from app.core.errors import problem_response
from app.core.principal import current_principal
from app.core.tenant import exempt_from_tenant_resolution
from app.memberships.router import router
from app.memberships.selector import select_tenant
from app.tenancy.isolation import TenantRequiredError

__all__ = ["install_memberships", "router"]

# Accounts, sessions and tenants themselves are nobody's tenant data: signing up and in
# happens before a tenant is chosen, and the management routes check the token's tenant
# themselves (platform admins have none). Items and every other route need a tenant.
TENANT_FREE_TAGS = frozenset({"auth", "users", "tenants"})


def install_memberships(app: FastAPI) -> None:
    """Let sign-in choose the tenant, serve sign-in without one, and answer a request that
    reaches tenant data without a tenant with a 403 problem instead of an error."""
    context: AuthContext = getattr(app.state, STATE_KEY)
    setattr(app.state, STATE_KEY, dataclasses.replace(context, tenant_selector=select_tenant))
    exempt_from_tenant_resolution(
        app,
        *(
            compile_path(route.path)[0]
            for route in iter_route_contexts(app.routes)
            if route.path is not None
            and not TENANT_FREE_TAGS.isdisjoint(getattr(route.route, "tags", None) or ())
        ),
    )
    app.add_exception_handler(TenantRequiredError, _no_tenant)


async def _no_tenant(request: Request, _error: Exception) -> JSONResponse:
    if current_principal(request) is None:
        detail = "This request needs a tenant: sign in to one."
    else:
        detail = (
            "Your token is for no tenant: sign in with `tenant` or switch with "
            "POST /api/auth/switch-tenant. A tenant header does not count for signed-in users."
        )
    return problem_response(request.url.path, 403, detail)
