"""The optional Redis connection: `REDIS_URL` unset means the service runs without one."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

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
