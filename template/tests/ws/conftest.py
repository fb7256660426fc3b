"""Helpers for WebSocket tests: an app with chosen WS_* settings and a stand-in for auth."""

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.config import Settings
from app.core.principal import Principal
from app.core.tenant import tenant_scope
from app.main import create_app
from app.ws import WebSocketSettings, use_websocket_settings

# The stand-in below makes up users and tenants. Where the real auth or multi_tenancy is
# installed, made-up tenants do not exist and anonymous item writes are refused, so tests
# built on them do not apply; test_with_auth.py and test_with_tenancy.py cover those apps.
_AUTH = importlib.util.find_spec("app.auth") is not None
_TENANCY = importlib.util.find_spec("app.tenancy") is not None
needs_stand_in_tenants = pytest.mark.skipif(
    _TENANCY, reason="made-up tenants; multi_tenancy is installed (see test_with_tenancy.py)"
)
needs_stand_in_item_writes = pytest.mark.skipif(
    _AUTH or _TENANCY,
    reason="stand-in item writers; auth or multi_tenancy is installed (see test_with_*.py)",
)

USER_HEADER = "x-test-user"
TENANT_HEADER = "x-test-tenant"


def ws_settings(**overrides: Any) -> WebSocketSettings:
    return WebSocketSettings(_env_file=None, **overrides)


class PrincipalFromHeader:
    """Test stand-in for authentication and tenancy, on HTTP and WebSocket scopes alike:
    X-Test-User: subject sets the principal, X-Test-Tenant: id runs in that tenant."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        tenant = headers.get(TENANT_HEADER.encode())
        subject = headers.get(USER_HEADER.encode())
        if subject is not None:
            principal = Principal(
                subject=subject.decode(), tenant_id=tenant.decode() if tenant else None
            )
            # A copy: the lifespan state dict is shared by every connection.
            scope["state"] = {**scope.get("state", {}), "principal": principal}
        with tenant_scope(tenant.decode()) if tenant else nullcontext():
            await self.app(scope, receive, send)


def as_user(subject: str, tenant: str | None = None) -> dict[str, str]:
    headers = {USER_HEADER: subject}
    if tenant is not None:
        headers[TENANT_HEADER] = tenant
    return headers


@contextmanager
def started(settings: Settings, **overrides: Any) -> Iterator[TestClient]:
    """A started app (lifespan run) with these WS_* settings, behind a TestClient.

    Anonymous handshakes are allowed unless a test says otherwise: these tests exercise the
    protocol, whatever else is installed (tests/ws/test_with_auth.py covers the default).
    """
    app: FastAPI = create_app(settings)
    overrides.setdefault("require_authentication", False)
    use_websocket_settings(app, ws_settings(**overrides))
    app.add_middleware(PrincipalFromHeader)
    with TestClient(app) as client:
        yield client
