"""The limiter: policies, storage, and what one request costs.

Storage is `limits`' async in-process memory when no Redis is configured, else Redis, where
every check is atomic Lua, so the limit holds across workers and hosts. With the default
strategy one script (MOVING_WINDOW_SCRIPT) counts the request under all of its policies and
returns what the response headers need: one Redis round trip per request.

Strategy "moving-window" (default) keeps a timestamp per admitted request and admits a
request only if fewer than N were admitted in the last window: exact at every instant, no
burst of 2N across a window boundary (as a fixed window allows), and the reset time is
exactly when the oldest request leaves the window. It stores up to N entries per client and
policy; for very large limits "sliding-window-counter" needs two counters instead, at the
price of approximating the previous window as evenly spread.
"""

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import (
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from prometheus_client import CollectorRegistry, Counter
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from app.ratelimit.config import RateLimitSettings, parse_limit

logger = structlog.get_logger(__name__)

DEFAULT_POLICY = "default"
TENANT_POLICY = "tenant"

# The moving window of `limits` (same keys, same list of admission times, newest first), with
# its hit and its window statistics in one script for every policy of a request, in order.
# KEYS: one list per policy. ARGV: now, then limit and window seconds per policy.
# Returns allowed (1 or 0), admissions in the window and the oldest of them per policy, up to
# the first refusal: a refused request spends no later policy's quota.
MOVING_WINDOW_SCRIPT = """
local result = {}
for i, key in ipairs(KEYS) do
    local limit = tonumber(ARGV[2 * i])
    local window = tonumber(ARGV[2 * i + 1])
    local start = tonumber(ARGV[1]) - window
    local nth = redis.call('lindex', key, limit - 1)
    local allowed = not (nth and tonumber(nth) >= start)
    if allowed then
        redis.call('lpush', key, ARGV[1])
        redis.call('ltrim', key, 0, limit - 1)
        redis.call('expire', key, window)
    end
    -- The admissions still in the window are a prefix of the list: find where it ends.
    local low, high, count = 0, redis.call('llen', key) - 1, 0
    while low <= high do
        local mid = math.floor((low + high) / 2)
        if tonumber(redis.call('lindex', key, mid)) >= start then
            count = mid + 1
            low = mid + 1
        else
            high = mid - 1
        end
    end
    local oldest = ARGV[1]
    if count > 0 then
        oldest = redis.call('lindex', key, count - 1)
    end
    table.insert(result, allowed and 1 or 0)
    table.insert(result, count)
    table.insert(result, oldest)
    if not allowed then
        break
    end
end
return result
"""


@dataclass(frozen=True, slots=True)
class Policy:
    """A named limit. Requests under one policy name share one counter per client."""

    name: str
    item: RateLimitItem
    fail_closed: bool = False

    @property
    def window_seconds(self) -> int:
        return self.item.get_expiry()


@dataclass(frozen=True, slots=True)
class Decision:
    policy: Policy
    allowed: bool
    remaining: int
    reset_after: int  # whole seconds until one more request is admitted


class StorageUnavailableError(Exception):
    """The counters could not be read or written in time."""


class Policies:
    """Which policy a route falls under, decided by route name."""

    def __init__(self, settings: RateLimitSettings) -> None:
        self.default = Policy(DEFAULT_POLICY, parse_limit(settings.default))
        strict_item = parse_limit(settings.strict)
        self._by_route: dict[str, Policy] = {
            name: Policy(name, strict_item, fail_closed=True) for name in settings.strict_routes
        }
        for name, limit in settings.routes.items():
            # An override changes the number, never the failure mode of a strict route.
            strict = name in self._by_route
            self._by_route[name] = Policy(name, parse_limit(limit), fail_closed=strict)
        self.tenant = (
            Policy(TENANT_POLICY, parse_limit(settings.tenant)) if settings.tenant else None
        )

    def for_route(self, name: str) -> Policy:
        return self._by_route.get(name, self.default)


class Metrics:
    """Counters on the app's own registry, so several apps in one process stay apart."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.rejected = Counter(
            "rate_limit_rejected",
            "Requests refused with 429 Too Many Requests",
            ["policy"],
            registry=registry,
        )
        self.storage_errors = Counter(
            "rate_limit_storage_errors",
            "Limiter checks that failed because the storage was unreachable or too slow",
            ["policy", "outcome"],
            registry=registry,
        )


def _redis_storage(url: str, settings: RateLimitSettings) -> tuple[Storage, ConnectionPool]:
    # Short timeouts and at most one immediate retry (which replaces a connection that a
    # Redis restart broke): a request never waits long on the limiter.
    pool = ConnectionPool.from_url(
        url,
        socket_timeout=settings.storage_timeout,
        socket_connect_timeout=settings.storage_timeout,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )
    if url.startswith("unix://"):
        uri = "async+redis+unix://" + url.removeprefix("unix://")
    else:
        uri = "async+" + url
    storage = RedisStorage(
        uri,
        implementation="redispy",
        key_prefix=settings.key_prefix,
        # limits annotates **options as scalars, but passes them to redis.asyncio.Redis,
        # which takes a pool; owning the pool lets the app close it on shutdown.
        connection_pool=pool,  # type: ignore[arg-type]
    )
    return storage, pool


class Limiter:
    """Checks requests against policies; one per running app."""

    def __init__(
        self,
        settings: RateLimitSettings,
        storage: Storage,
        metrics: Metrics,
        backend: str,
        pool: ConnectionPool | None = None,
    ) -> None:
        self.settings = settings
        self.policies = Policies(settings)
        self.metrics = metrics
        self.backend = backend
        self._strategy: RateLimiter = (
            MovingWindowRateLimiter(storage)
            if settings.strategy == "moving-window"
            else SlidingWindowCounterRateLimiter(storage)
        )
        self._script = (
            Redis(connection_pool=pool).register_script(MOVING_WINDOW_SCRIPT)
            if pool is not None and settings.strategy == "moving-window"
            else None
        )
        self._healthy = True

    async def hit(self, checks: list[tuple[Policy, str]]) -> list[Decision]:
        """Count one request under each (policy, key), in order, up to the first refusal.

        StorageUnavailableError if the storage could not be reached in time.
        """
        try:
            # Bounds the whole check, retries and waiting for a pooled connection included.
            async with asyncio.timeout(2 * self.settings.storage_timeout):
                if self._script is not None:
                    decisions = await self._hit_in_one_script(self._script, checks)
                else:
                    decisions = await self._hit_each(checks)
        # TimeoutError (our bound) is an OSError; a bug elsewhere must not pass as an outage.
        except (RedisError, OSError) as error:
            for policy, _key in checks:
                self._storage_failed(policy, error)
            raise StorageUnavailableError(type(error).__name__) from error
        if not self._healthy:
            self._healthy = True
            logger.info("rate_limit_storage_recovered", backend=self.backend)
        for decision in decisions:
            if not decision.allowed:
                self.metrics.rejected.labels(policy=decision.policy.name).inc()
        return decisions

    async def _hit_in_one_script(
        self, script: AsyncScript, checks: list[tuple[Policy, str]]
    ) -> list[Decision]:
        now = time.time()
        # The keys `limits` uses: RATE_LIMIT_KEY_PREFIX, the policy, the key and the limit
        # itself, so changing a limit starts fresh counters.
        keys = [
            f"{self.settings.key_prefix}:{policy.item.key_for(policy.name, key)}"
            for policy, key in checks
        ]
        arguments: list[float] = [now]
        for policy, _key in checks:
            arguments += [policy.item.amount, policy.window_seconds]
        reply = await script(keys=keys, args=arguments)
        decisions = []
        for index in range(0, len(reply), 3):
            policy = checks[index // 3][0]
            allowed, count, oldest = reply[index : index + 3]
            reset_at = float(oldest) + policy.window_seconds
            remaining = policy.item.amount - int(count)
            decisions.append(self._decision(policy, bool(allowed), remaining, reset_at))
        return decisions

    async def _hit_each(self, checks: list[tuple[Policy, str]]) -> list[Decision]:
        decisions = []
        for policy, key in checks:
            # Redis keys also carry RATE_LIMIT_KEY_PREFIX (added by the storage) and the
            # limit itself, so changing a limit starts fresh counters.
            allowed = await self._strategy.hit(policy.item, policy.name, key)
            reset_at, remaining = await self._strategy.get_window_stats(
                policy.item, policy.name, key
            )
            decisions.append(self._decision(policy, allowed, remaining, reset_at))
            if not allowed:
                break
        return decisions

    @staticmethod
    def _decision(policy: Policy, allowed: bool, remaining: int, reset_at: float) -> Decision:
        reset_after = max(0, math.ceil(reset_at - time.time()))
        return Decision(policy, allowed, max(0, remaining), reset_after)

    def _storage_failed(self, policy: Policy, error: Exception) -> None:
        outcome = "rejected" if policy.fail_closed else "allowed"
        self.metrics.storage_errors.labels(policy=policy.name, outcome=outcome).inc()
        # One warning per outage, not one per request; the counter shows the volume.
        if self._healthy:
            self._healthy = False
            logger.warning(
                "rate_limit_storage_unavailable",
                backend=self.backend,
                error=type(error).__name__,
                failing="closed" if policy.fail_closed else "open",
            )


@asynccontextmanager
async def open_limiter(
    settings: RateLimitSettings, redis_url: str | None, metrics: Metrics
) -> AsyncIterator[Limiter]:
    """A limiter on the configured storage, closed again on the way out."""
    url = settings.resolved_storage_url(redis_url)
    if url == "memory://":
        # Created inside the running loop: the memory storage schedules its expiry task there.
        memory = MemoryStorage()
        try:
            yield Limiter(settings, memory, metrics, backend="memory")
        finally:
            if memory.timer is not None:
                memory.timer.cancel()
        return
    storage, pool = _redis_storage(url, settings)
    try:
        yield Limiter(settings, storage, metrics, backend="redis", pool=pool)
    finally:
        await pool.aclose()
