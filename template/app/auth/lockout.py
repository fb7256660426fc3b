"""Per-account sign-in throttling (security catalogue P11): failed sign-ins are counted per
e-mail address, whoever sends them and from wherever.

Every sign-in attempt is counted before its password is checked, in one atomic step that
also tells whether the address is locked: a burst of parallel guesses gets no more than
AUTH_LOGIN_MAX_FAILURES password checks. From that many failures on, the address's
sign-ins are refused with 429 and Retry-After for AUTH_LOGIN_LOCKOUT_SECONDS, doubled with
each further failure up to AUTH_LOGIN_LOCKOUT_MAX_SECONDS; a refused attempt costs no hash
and counts for nothing. Failures are forgotten once AUTH_LOGIN_FAILURE_WINDOW_SECONDS pass
without one (from the end of a lockout); a successful sign-in or password reset clears them.

The key is the SHA-256 of the address as sign-in looks it up (lower-cased), so an unknown
address is counted and refused exactly like an account (no enumeration), and the store
holds no address in clear. The client's IP plays no part: many addresses do not help an
attacker here (per-client limits are the rate_limiting feature's job).

Lockout-DoS: anyone can lock an address by guessing wrong. The lock is therefore always
time-bound, and it refuses only password sign-ins: password reset, refresh tokens and
access tokens already issued keep working, so the owner is never shut out.

Redis holds the counters when REDIS_URL is set (one Lua script, so counting is atomic and
keys expire by themselves), the database otherwise (one upsert per attempt).
"""

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy import case, delete, literal, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.config import AuthSettings
from app.auth.models import LoginFailure
from app.core.models import UTCDateTime

REDIS_PREFIX = "auth:login-failures"
# Doubling stops mattering long before this; it keeps 2**n a small number.
MAX_DOUBLINGS = 32


def account_key(email: str) -> str:
    """The counter of an address: normalized as sign-in looks it up, then hashed."""
    return hashlib.sha256(email.lower().encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    max_failures: int
    window_seconds: int
    lockout_seconds: int
    max_lockout_seconds: int

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> "LockoutPolicy":
        return cls(
            max_failures=settings.login_max_failures,
            window_seconds=settings.login_failure_window_seconds,
            lockout_seconds=settings.login_lockout_seconds,
            max_lockout_seconds=settings.login_lockout_max_seconds,
        )

    def lockout_after(self, failures: int) -> int:
        """How long sign-ins are refused after the `failures`-th failure (0: not at all)."""
        if failures < self.max_failures:
            return 0
        doublings = min(failures - self.max_failures, MAX_DOUBLINGS)
        lockout: int = self.lockout_seconds * 2**doublings
        return min(self.max_lockout_seconds, lockout)


class LoginFailures(Protocol):
    async def attempt(self, key: str, now: float, policy: LockoutPolicy) -> float | None:
        """Count a sign-in attempt as failed unless the key is locked. None: counted, go
        on and check the password; else the moment (epoch seconds) the lock ends, and
        nothing was counted."""
        ...

    async def clear(self, key: str) -> None: ...


# KEYS[1] the counter; ARGV now, window, max failures, first lockout, longest lockout.
# Returns {1} when counted, {0, locked_until} when refused.
ATTEMPT_SCRIPT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max_failures = tonumber(ARGV[3])
local lockout = tonumber(ARGV[4])
local max_lockout = tonumber(ARGV[5])
local state = redis.call('HMGET', KEYS[1], 'failures', 'locked_until', 'forget_at')
local failures = tonumber(state[1] or '0') or 0
local locked_until = tonumber(state[2] or '0') or 0
local forget_at = tonumber(state[3] or '0') or 0
if forget_at <= now then
  failures = 0
  locked_until = 0
end
if locked_until > now then
  return {0, string.format('%.17g', locked_until)}
end
failures = failures + 1
local lock_end = now
if failures >= max_failures then
  local doublings = math.min(failures - max_failures, 32)
  lock_end = now + math.min(max_lockout, lockout * 2 ^ doublings)
end
forget_at = lock_end + window
redis.call('HSET', KEYS[1], 'failures', failures,
  'locked_until', string.format('%.17g', lock_end),
  'forget_at', string.format('%.17g', forget_at))
redis.call('EXPIRE', KEYS[1], math.max(1, math.ceil(forget_at - now)))
return {1}
"""


class RedisLoginFailures:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def attempt(self, key: str, now: float, policy: LockoutPolicy) -> float | None:
        reply = await self.redis.eval(
            ATTEMPT_SCRIPT,
            1,
            f"{REDIS_PREFIX}:{key}",
            repr(now),
            policy.window_seconds,
            policy.max_failures,
            policy.lockout_seconds,
            policy.max_lockout_seconds,
        )
        if int(reply[0]) == 1:
            return None
        return float(reply[1])

    async def clear(self, key: str) -> None:
        await self.redis.delete(f"{REDIS_PREFIX}:{key}")


class DatabaseLoginFailures:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def attempt(self, key: str, now: float, policy: LockoutPolicy) -> float | None:
        at = datetime.fromtimestamp(now, UTC)
        moment = literal(at, UTCDateTime())
        window = timedelta(seconds=policy.window_seconds)
        forgotten = LoginFailure.forget_at <= moment
        # forget_at >= locked_until + window, so a forgotten counter is never locked.
        locked = LoginFailure.locked_until > moment
        async with self.sessionmaker() as session:
            dialect = session.get_bind().dialect.name
            insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
            statement = insert(LoginFailure).values(
                key=key, failures=1, locked_until=at, forget_at=at + window
            )
            # One statement, evaluated on the row as it was: concurrent attempts queue on
            # the row (until commit) and each sees the count the previous one left.
            upsert = statement.on_conflict_do_update(
                index_elements=[LoginFailure.key],
                set_={
                    "failures": case(
                        (forgotten, 1),
                        (locked, LoginFailure.failures),
                        else_=LoginFailure.failures + 1,
                    ),
                    "locked_until": case((locked, LoginFailure.locked_until), else_=moment),
                    "forget_at": case(
                        (locked, LoginFailure.forget_at),
                        else_=literal(at + window, UTCDateTime()),
                    ),
                },
            ).returning(LoginFailure.failures, LoginFailure.locked_until)
            failures, locked_until = (await session.execute(upsert)).one()
            refused = locked_until > at
            if not refused and (seconds := policy.lockout_after(failures)) > 0:
                # Still in the transaction that holds the row: no other attempt in between.
                until = at + timedelta(seconds=seconds)
                await session.execute(
                    update(LoginFailure)
                    .where(LoginFailure.key == key)
                    .values(locked_until=until, forget_at=until + window)
                )
            await session.commit()
            # Forgotten counters can no longer matter; dropping them keeps the table small.
            await session.execute(delete(LoginFailure).where(LoginFailure.forget_at < at))
            await session.commit()
        return float(locked_until.timestamp()) if refused else None

    async def clear(self, key: str) -> None:
        async with self.sessionmaker() as session:
            await session.execute(delete(LoginFailure).where(LoginFailure.key == key))
            await session.commit()


def retry_after(locked_until: float, now: float) -> int:
    """Whole seconds until the lock ends, at least 1 (Retry-After)."""
    # Rounded to the millisecond first: stored times may be a microsecond off.
    return max(1, math.ceil(round(locked_until - now, 3)))
