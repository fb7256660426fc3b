"""Loaded for every test while multi-tenancy is present (see tests/conftest.py).

With tenancy every /api request needs a tenant and every query of tenant data runs inside
one. Tests written for the app without tenancy get both from here instead of knowing about
it: each test has a fresh active tenant, runs inside its scope, and every request it sends
in-process names it in the tenant header unless the request names a tenant itself (or the
test turns that off with `default_tenant.send_header = False`).
"""

import asyncio
import contextlib
import contextvars
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
import structlog
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Receive, Scope, Send

from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.core.tenant import _current_tenant_id, tenant_scope
from app.tenancy.config import TenancySettings
from app.tenancy.middleware import TenantMiddleware
from app.tenancy.models import Tenant

HEADER = TenancySettings.model_fields["header"].default.lower().encode()
# Test-only routes of other test packages that are not about tenants: /slow, served by a
# real uvicorn process in tests/test_shutdown.py (it inherits this environment), and the
# rate-limit probes, whose made-up principals name tenants that do not exist.
EXEMPT_PATHS = [*TenancySettings.model_fields["exempt_paths"].default, "/slow", "/api/probes"]


@dataclass
class DefaultTenant:
    id: uuid.UUID
    slug: str
    send_header: bool = True
    # Session factories of apps whose database is known to hold this tenant.
    present_in: list[Any] = field(default_factory=list)


_current: DefaultTenant | None = None
_original_call = FastAPI.__call__


async def _call_with_default_tenant(
    self: FastAPI, scope: Scope, receive: Receive, send: Send
) -> None:
    default = _current
    if default is not None and default.send_header and scope["type"] in ("http", "websocket"):
        await _ensure_present(default, scope.get("state", {}).get("sessionmaker"))
        if all(name != HEADER for name, _ in scope["headers"]):
            tenant_header = (HEADER, str(default.id).encode())
            scope = {**scope, "headers": [*scope["headers"], tenant_header]}
    resolves_tenants = any(
        getattr(entry, "cls", None) is TenantMiddleware for entry in self.user_middleware
    )
    if scope["type"] not in ("http", "websocket") or not resolves_tenants:
        # An app assembled by hand without the tenancy middleware (a recipe test) runs in
        # the test's tenant, as a direct call of the service layer does.
        await _original_call(self, scope, receive, send)
        return
    # A request sees only the tenant the app resolves for it, as in production, not the
    # one this test runs in: its own task, in a context without that tenant.
    context = contextvars.copy_context()
    context.run(_current_tenant_id.set, None)
    context.run(structlog.contextvars.unbind_contextvars, "tenant_id")
    await asyncio.create_task(_original_call(self, scope, receive, send), context=context)


_original_send = httpx2.AsyncClient.send


async def _send_with_default_tenant(
    self: httpx2.AsyncClient, request: httpx2.Request, **kwargs: Any
) -> httpx2.Response:
    """Requests to real server processes (which this process cannot patch) name the
    default tenant too; it lives in the run's database they share."""
    default = _current
    if default is not None and default.send_header and HEADER.decode() not in request.headers:
        request.headers[HEADER.decode()] = str(default.id)
    return await _original_send(self, request, **kwargs)


async def _ensure_present(
    default: DefaultTenant, sessionmaker: async_sessionmaker[AsyncSession] | None
) -> None:
    """Some tests point an app at a database of their own (one that is down, say): the
    default tenant is added there when first needed."""
    if sessionmaker is None or any(known is sessionmaker for known in default.present_in):
        return
    # A database that is down is the test's business: the app answers for itself.
    with contextlib.suppress(SQLAlchemyError, OSError):
        async with sessionmaker() as session:
            if await session.get(Tenant, default.id) is None:
                session.add(Tenant(id=default.id, slug=default.slug, name=default.slug))
                await session.commit()
        default.present_in.append(sessionmaker)


async def create_tenant(settings: Settings, slug: str, *, active: bool = True) -> uuid.UUID:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            tenant = Tenant(slug=slug, name=slug, status="active" if active else "inactive")
            session.add(tenant)
            await session.commit()
            return tenant.id
    finally:
        await engine.dispose()


@pytest.fixture(autouse=True)
async def default_tenant(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[DefaultTenant]:
    global _current
    monkeypatch.setenv("TENANCY_EXEMPT_PATHS", ",".join(EXEMPT_PATHS))
    slug = f"default-{uuid.uuid4().hex[:12]}"
    default = DefaultTenant(await create_tenant(settings, slug), slug)
    _current = default
    monkeypatch.setattr(FastAPI, "__call__", _call_with_default_tenant)
    monkeypatch.setattr(httpx2.AsyncClient, "send", _send_with_default_tenant)
    try:
        with tenant_scope(str(default.id)):
            yield default
    finally:
        _current = None
