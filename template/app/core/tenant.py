"""The current tenant: the contract between whatever resolves it and everything scoped by it.

Multi-tenancy (when present) resolves the tenant of a request, a WebSocket or a task and runs
the work inside `tenant_scope(...)`. Consumers (cache keys, rate-limit keys, channels, task
headers, log lines) read `current_tenant_id()`; without multi-tenancy it is always None.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import structlog
from starlette.applications import Starlette
from starlette.types import Scope

# app.state attribute: paths served without resolving a tenant first (see below).
EXEMPT_PATHS_KEY = "tenant_exempt_paths"

_current_tenant_id: ContextVar[str | None] = ContextVar("current_tenant_id", default=None)


def current_tenant_id() -> str | None:
    return _current_tenant_id.get()


@contextmanager
def tenant_scope(tenant_id: str) -> Iterator[None]:
    """Run the body as `tenant_id`; every log line inside carries it."""
    token = _current_tenant_id.set(tenant_id)
    try:
        with structlog.contextvars.bound_contextvars(tenant_id=tenant_id):
            yield
    finally:
        _current_tenant_id.reset(token)


def exempt_from_tenant_resolution(app: Starlette, *paths: str | re.Pattern[str]) -> None:
    """Serve these paths without resolving a tenant from the request.

    A string is one exact path; a compiled pattern must match the whole path. For endpoints
    that learn their tenant another way (/ws takes it from the handshake ticket or the verified
    principal, because a browser cannot set headers on a WebSocket) or hold no tenant data
    (accounts and sign-in with memberships). Whatever resolves tenants (multi-tenancy) honours
    it; without one it changes nothing.
    """
    patterns: tuple[re.Pattern[str], ...] = getattr(app.state, EXEMPT_PATHS_KEY, ())
    added = tuple(re.compile(re.escape(path)) if isinstance(path, str) else path for path in paths)
    setattr(app.state, EXEMPT_PATHS_KEY, patterns + added)


def is_exempt_from_tenant_resolution(scope: Scope) -> bool:
    app = scope.get("app")
    patterns: tuple[re.Pattern[str], ...] = getattr(
        getattr(app, "state", None), EXEMPT_PATHS_KEY, ()
    )
    return any(pattern.fullmatch(scope["path"]) for pattern in patterns)
