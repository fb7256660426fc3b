"""Per-test Redis key prefixes: feature plugins give every test a fresh prefix (so parallel
runs and other tests never share counters, tickets or channels) and drop its keys after."""

from redis.asyncio import Redis


async def delete_keys(redis_url: str, prefix: str) -> None:
    """Delete every key under `prefix:` (SCAN, never KEYS: the server may be shared)."""
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
