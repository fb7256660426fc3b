"""Access tokens refused before they expire: one token (logout) or all of a user's tokens
issued up to a moment (password change, deactivation, role change, deletion).

Redis holds the entries when REDIS_URL is set (they expire by themselves), the database
otherwise. Entries live as long as an access token can, so the store stays small.
"""

from datetime import UTC, datetime, timedelta
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.models import Revocation
from app.auth.tokens import AccessClaims

REDIS_PREFIX = "auth:revoked"


def token_key(issuer: str, token_id: str) -> str:
    # By (iss, jti), not by a hash of the token: a re-encoded token has other bytes.
    return f"jti:{issuer}:{token_id}"


def user_key(user_id: str) -> str:
    return f"user:{user_id}"


class Revocations(Protocol):
    async def revoke(self, key: str, at: datetime, ttl_seconds: int) -> None: ...

    async def is_revoked(self, issuer: str, claims: AccessClaims) -> bool: ...


def _refused(claims: AccessClaims, token_revoked: bool, user_revoked_at: float | None) -> bool:
    return token_revoked or (user_revoked_at is not None and claims.issued_at <= user_revoked_at)


class RedisRevocations:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def revoke(self, key: str, at: datetime, ttl_seconds: int) -> None:
        await self.redis.set(f"{REDIS_PREFIX}:{key}", str(at.timestamp()), ex=max(ttl_seconds, 1))

    async def is_revoked(self, issuer: str, claims: AccessClaims) -> bool:
        token_value, user_value = await self.redis.mget(
            f"{REDIS_PREFIX}:{token_key(issuer, claims.token_id)}",
            f"{REDIS_PREFIX}:{user_key(claims.subject)}",
        )
        user_revoked_at = float(user_value) if user_value is not None else None
        return _refused(claims, token_value is not None, user_revoked_at)


class DatabaseRevocations:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def revoke(self, key: str, at: datetime, ttl_seconds: int) -> None:
        expires_at = at + timedelta(seconds=ttl_seconds)
        values = {"key": key, "revoked_at": at, "expires_at": expires_at}
        async with self.sessionmaker() as session:
            # Expired entries can no longer matter; dropping them here keeps the table small.
            await session.execute(delete(Revocation).where(Revocation.expires_at < at))
            dialect = session.get_bind().dialect.name
            insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
            statement = insert(Revocation).values(values)
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=[Revocation.key],
                    set_={"revoked_at": at, "expires_at": expires_at},
                )
            )
            await session.commit()

    async def is_revoked(self, issuer: str, claims: AccessClaims) -> bool:
        keys = {token_key(issuer, claims.token_id), user_key(claims.subject)}
        now = datetime.now(UTC)
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(Revocation.key, Revocation.revoked_at).where(
                    Revocation.key.in_(keys), Revocation.expires_at >= now
                )
            )
            found = dict(rows.all())
        user_revoked_at = found.get(user_key(claims.subject))
        return _refused(
            claims,
            token_key(issuer, claims.token_id) in found,
            user_revoked_at.timestamp() if user_revoked_at is not None else None,
        )
