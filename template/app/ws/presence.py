"""Who is connected to a channel, across every process.

In memory without Redis; with Redis one hash per channel (connection id -> member and
expiry). Each process refreshes its own entries on every heartbeat, so entries of a process
that died without saying goodbye expire instead of showing ghosts forever.
"""

import json
import time
from typing import Any, Protocol

from redis.asyncio import Redis

Member = dict[str, Any]


class Presence(Protocol):
    async def join(self, key: str, connection_id: str, member: Member) -> None: ...
    async def leave(self, key: str, connection_id: str) -> None: ...
    async def members(self, key: str) -> list[Member]: ...


class LocalPresence:
    def __init__(self) -> None:
        self._channels: dict[str, dict[str, Member]] = {}

    async def join(self, key: str, connection_id: str, member: Member) -> None:
        self._channels.setdefault(key, {})[connection_id] = member

    async def leave(self, key: str, connection_id: str) -> None:
        members = self._channels.get(key, {})
        members.pop(connection_id, None)
        if not members:
            self._channels.pop(key, None)

    async def members(self, key: str) -> list[Member]:
        return list(self._channels.get(key, {}).values())


class RedisPresence:
    def __init__(self, redis: Redis, prefix: str, ttl_seconds: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds

    def _hash(self, key: str) -> str:
        return f"{self._prefix}:presence:{key}"

    async def join(self, key: str, connection_id: str, member: Member) -> None:
        entry = json.dumps({"member": member, "expires": time.time() + self._ttl})
        await self._redis.hset(self._hash(key), connection_id, entry)
        # The hash outlives its last member by one TTL at most.
        await self._redis.expire(self._hash(key), int(self._ttl) + 1)

    async def leave(self, key: str, connection_id: str) -> None:
        await self._redis.hdel(self._hash(key), connection_id)

    async def members(self, key: str) -> list[Member]:
        entries: dict[bytes | str, bytes | str] = await self._redis.hgetall(self._hash(key))
        now = time.time()
        members, expired = [], []
        for connection_id, raw in entries.items():
            entry = json.loads(raw)
            if entry["expires"] < now:
                expired.append(connection_id)
            else:
                members.append(entry["member"])
        if expired:
            await self._redis.hdel(self._hash(key), *expired)
        return members
