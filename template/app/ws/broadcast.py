"""Fan-out between processes: what one worker publishes reaches the clients of every worker.

Without Redis the process is alone, so publishing is delivering. With Redis every message
goes through one pub/sub channel that every process subscribes to, and each process hands
it to its own subscribers (the publisher included, so all clients see one order). The
subscriber reconnects with backoff when Redis restarts; messages published while it is
away are lost, as pub/sub never stores them, so clients treat channels as live feeds and
re-read state over HTTP after reconnecting.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = structlog.get_logger(__name__)

Deliver = Callable[[str, str], None]
"""Hand a serialized frame to this process's subscribers of a channel key."""

SOCKET_TIMEOUT_SECONDS = 2.0
RECONNECT_MIN_SECONDS = 0.1
RECONNECT_MAX_SECONDS = 5.0


class Broadcast(Protocol):
    async def publish(self, key: str, text: str) -> None: ...


class LocalBroadcast:
    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def publish(self, key: str, text: str) -> None:
        self._deliver(key, text)


class RedisBroadcast:
    def __init__(self, redis: Redis, bus: str, deliver: Deliver) -> None:
        self._redis = redis
        self._bus = bus
        self._deliver = deliver
        self.subscribed = asyncio.Event()

    async def publish(self, key: str, text: str) -> None:
        await self._redis.publish(self._bus, json.dumps([key, text]))

    async def listen_forever(self) -> None:
        delay = RECONNECT_MIN_SECONDS
        while True:
            try:
                await self._listen()
            except (RedisError, OSError) as error:
                self.subscribed.clear()
                logger.warning("ws_broadcast_disconnected", error=str(error), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            delay = RECONNECT_MIN_SECONDS

    async def _listen(self) -> None:
        async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(self._bus)
            self.subscribed.set()
            logger.info("ws_broadcast_subscribed", bus=self._bus)
            while True:
                # A timeout, not a blocking listen: the connection's health check runs on
                # every call, so a dead Redis surfaces as an error here within seconds.
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    self._dispatch(message["data"])

    def _dispatch(self, data: bytes) -> None:
        try:
            key, text = json.loads(data)
        except (ValueError, TypeError):
            logger.warning("ws_broadcast_malformed_message")
            return
        self._deliver(key, text)


@asynccontextmanager
async def open_broadcast(
    redis_url: str | None, prefix: str, deliver: Deliver
) -> AsyncIterator[Broadcast]:
    if redis_url is None:
        yield LocalBroadcast(deliver)
        return
    redis = Redis.from_url(
        redis_url,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=5,
        # Named, so that an operator (or a test) can find this subscriber in CLIENT LIST.
        client_name=f"{prefix}:bus",
    )
    broadcast = RedisBroadcast(redis, f"{prefix}:bus", deliver)
    listener = asyncio.create_task(broadcast.listen_forever(), name="ws-broadcast")
    try:
        # Start serving once subscribed, so nothing published right after start-up is missed;
        # if Redis is down the app starts anyway and the listener keeps retrying.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(broadcast.subscribed.wait(), SOCKET_TIMEOUT_SECONDS * 2)
        yield broadcast
    finally:
        # Bounded: the subscriber's clean-up talks to Redis, which may be the thing that is
        # down, and a stuck shutdown would outlive the orchestrator's grace period.
        listener.cancel()
        _, pending = await asyncio.wait({listener}, timeout=SOCKET_TIMEOUT_SECONDS * 2)
        if pending:
            logger.warning("ws_broadcast_close_timed_out")
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await asyncio.wait_for(redis.aclose(), SOCKET_TIMEOUT_SECONDS * 2)
