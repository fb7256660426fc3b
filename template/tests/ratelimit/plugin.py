"""Loaded for every test while rate limiting is present (see tests/conftest.py).

Every app a test starts reads RATE_LIMIT_* from the environment; a fresh key prefix per test
keeps counters of different tests, and of parallel runs on one Redis, apart. The test's keys
are deleted afterwards.
"""

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.redis_keys import delete_keys


@pytest.fixture(autouse=True)
async def rate_limit_key_prefix(
    monkeypatch: pytest.MonkeyPatch, redis_url: str | None
) -> AsyncIterator[str]:
    prefix = f"test-ratelimit-{uuid.uuid4().hex[:16]}"
    monkeypatch.setenv("RATE_LIMIT_KEY_PREFIX", prefix)
    yield prefix
    if redis_url is not None:
        await delete_keys(redis_url, prefix)
