"""Loaded for every test while WebSockets are present (see tests/conftest.py).

Redis pub/sub channels are shared by every database of a Redis server, so each test gets
its own WS_KEY_PREFIX: apps of parallel runs (and of other tests) never hear each other.
"""

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.redis_keys import delete_keys


@pytest.fixture(autouse=True)
async def websocket_key_prefix(
    monkeypatch: pytest.MonkeyPatch, redis_url: str | None
) -> AsyncIterator[str]:
    prefix = f"test-ws-{uuid.uuid4().hex[:16]}"
    monkeypatch.setenv("WS_KEY_PREFIX", prefix)
    yield prefix
    if redis_url is not None:
        await delete_keys(redis_url, prefix)
