"""The optional Redis connection: `REDIS_URL` unset means the service runs without one."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.errors import RETRY_AFTER_SECONDS, problem_response

logger = structlog.get_logger(__name__)

# Fail fast instead of hanging for the OS TCP timeout when Redis is unreachable.
SOCKET_TIMEOUT_SECONDS = 2.0


@asynccontextmanager
async def open_redis(url: str | None) -> AsyncIterator[Redis | None]:
    if url is None:
        yield None
        return
    client = Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=30,
    )
    try:
        yield client
    finally:
        await client.aclose()


async def _redis_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # A route that needs Redis (sign-in counters, revocations, tickets) cannot do its work
    # safely without it: 503 until Redis is back, never a 500 or an unchecked success.
    logger.warning("redis_unavailable", error=type(exc).__name__)
    return problem_response(
        request.url.path,
        503,
        "A backing service is unavailable; retry shortly.",
        {"Retry-After": RETRY_AFTER_SECONDS},
    )


def install_redis_error_handlers(app: FastAPI) -> None:
    """503 + Retry-After while Redis is down or too slow; the app recovers by itself."""
    app.add_exception_handler(RedisError, _redis_unavailable)
