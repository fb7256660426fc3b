"""Helpers for rate-limit tests: an app with chosen limits, clients with chosen addresses."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.config import Settings
from app.core.errors import error_responses
from app.core.principal import Principal
from app.main import create_app
from app.ratelimit import RateLimitSettings, limit_every_route, use_rate_limit_settings
from app.ratelimit.dependencies import STRICT_RATE_LIMIT_RESPONSES
from tests.conftest import BASE_URL

# TEST-NET addresses: never a real client, never in FORWARDED_ALLOW_IPS.
CLIENT_IP = "198.51.100.7"
OTHER_IP = "198.51.100.8"
ITEMS = "/api/items"
PROBES = "/api/probes"
# Concurrency tests are about atomic counting: a slow, busy CI machine must not turn them into
# tests of the time bound (an overrun fails open and would admit extra requests).
PATIENT_STORAGE_TIMEOUT = 5.0


def limits(prefix: str, **overrides: Any) -> RateLimitSettings:
    values: dict[str, Any] = {"default": "10/minute", "key_prefix": prefix}
    return RateLimitSettings(_env_file=None, **(values | overrides))


class PrincipalFromHeader:
    """Test stand-in for an authentication layer: X-Test-User: subject[;roles[;tenant]]."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            value = dict(scope["headers"]).get(b"x-test-user")
            if value is not None:
                subject, roles, tenant = [*value.decode().split(";"), "", ""][:3]
                principal = Principal(
                    subject=subject,
                    roles=frozenset(filter(None, roles.split(","))),
                    tenant_id=tenant or None,
                )
                # A copy: the test lifespan manager shares one state dict between requests.
                scope["state"] = {**scope.get("state", {}), "principal": principal}
        await self.app(scope, receive, send)


def add_probe_routes(app: FastAPI) -> None:
    """Test-only API routes: the same operations under /v1 and /v2, and a strict "login"."""
    api = APIRouter(prefix=PROBES)
    limit_every_route(api)
    for version in ("v1", "v2"):
        versioned = APIRouter(prefix=f"/{version}")

        async def ping() -> dict[str, str]:
            """Answer pong."""
            return {"ping": "pong"}

        versioned.add_api_route("/ping", ping, name="ping", responses=error_responses(422, 500))
        api.include_router(versioned)

    async def login() -> dict[str, str]:
        """Stand-in for the auth feature's login: a strict route by name."""
        return {"token": "not-a-real-token"}

    api.add_api_route(
        "/login",
        login,
        methods=["POST"],
        name="login",
        responses=STRICT_RATE_LIMIT_RESPONSES | error_responses(422, 500),
    )
    app.include_router(api)
    app.add_middleware(PrincipalFromHeader)


@asynccontextmanager
async def started(
    settings: Settings,
    rate_limits: RateLimitSettings,
    customize: Callable[[FastAPI], None] | None = add_probe_routes,
) -> AsyncIterator[ASGIApp]:
    """A started app (lifespan run) with these rate limits."""
    app = create_app(settings)
    use_rate_limit_settings(app, rate_limits)
    if customize is not None:
        customize(app)
    async with LifespanManager(app) as manager:
        yield manager.app


def client(app: ASGIApp, ip: str = CLIENT_IP) -> httpx2.AsyncClient:
    """An HTTP client whose connections come from `ip`."""
    transport = httpx2.ASGITransport(app=app, client=(ip, 50_000))
    return httpx2.AsyncClient(transport=transport, base_url=BASE_URL)


@pytest.fixture
def prefix(rate_limit_key_prefix: str) -> str:
    return rate_limit_key_prefix
