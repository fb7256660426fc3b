"""Per-client rate limits on every API route (the `rate_limiting` feature).

Wiring, done by the template: `limit_every_route(api_router)` in app/api.py attaches the
check to every API route; `install_rate_limiting(app, ...)` in app/main.py starts the limiter
with the app and adds the response headers. /health and /metrics are outside the API router
and are never limited.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry

from app.core.config import Settings
from app.ratelimit.config import RateLimitSettings
from app.ratelimit.dependencies import (
    RATE_LIMIT_RESPONSES,
    STRICT_RATE_LIMIT_RESPONSES,
    RateLimitHeadersMiddleware,
    client_key,
    enforce_rate_limit,
    limit_every_route,
)
from app.ratelimit.limiter import Metrics, open_limiter

__all__ = [
    "RATE_LIMIT_RESPONSES",
    "STRICT_RATE_LIMIT_RESPONSES",
    "RateLimitSettings",
    "client_key",
    "enforce_rate_limit",
    "install_rate_limiting",
    "limit_every_route",
    "use_rate_limit_settings",
]

SETTINGS_ATTRIBUTE = "rate_limit_settings"

logger = structlog.get_logger(__name__)


def install_rate_limiting(
    app: FastAPI,
    settings: Settings,
    registry: CollectorRegistry,
    rate_limit_settings: RateLimitSettings | None = None,
) -> None:
    """Run a limiter for the lifetime of `app` and add the rate-limit response headers.

    RATE_LIMIT_* settings are read (and validated) here, at start-up; tests replace them
    with `use_rate_limit_settings()` before the app starts.
    """
    use_rate_limit_settings(app, rate_limit_settings or RateLimitSettings())
    metrics = Metrics(registry)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        current: RateLimitSettings = getattr(app.state, SETTINGS_ATTRIBUTE)
        # A misspelt override would silently leave its route on the default limit.
        names = {route.name for route in iter_route_contexts(app.routes)}
        if unknown := sorted(set(current.routes) - names):
            logger.warning("rate_limit_unknown_routes", routes=unknown)
        async with open_limiter(current, settings.redis_url, metrics) as limiter:
            # Lifespan state: every request sees it as request.state.rate_limiter.
            yield {"rate_limiter": limiter}

    # FastAPI merges the lifespan of an included router into the app's.
    app.include_router(APIRouter(lifespan=lifespan))
    app.add_middleware(RateLimitHeadersMiddleware)


def use_rate_limit_settings(app: FastAPI, rate_limit_settings: RateLimitSettings) -> None:
    """Replace the rate-limit settings of an app that has not started yet."""
    setattr(app.state, SETTINGS_ATTRIBUTE, rate_limit_settings)
