"""Loaded for every test while WebSockets are present (see tests/conftest.py).

Redis pub/sub channels are shared by every database of a Redis server, so each test gets
its own WS_KEY_PREFIX: apps of parallel runs (and of other tests) never hear each other.
"""

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis


@pytest.fixture(autouse=True)
async def websocket_key_prefix(
    monkeypatch: pytest.MonkeyPatch, redis_url: str | None
) -> AsyncIterator[str]:
    prefix = f"test-ws-{uuid.uuid4().hex[:16]}"
    monkeypatch.setenv("WS_KEY_PREFIX", prefix)
    yield prefix
    if redis_url is None:
        return
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
