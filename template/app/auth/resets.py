"""Password reset tokens: opaque, single use, short-lived, one live token per user.

Only the SHA-256 of a token is stored, so a copy of the table resets nobody's password. A
new request replaces the user's earlier tokens. Using a token is one conditional UPDATE
(`used_at IS NULL`), so of several concurrent confirmations with one token exactly one wins
on SQLite and PostgreSQL alike.
"""

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import PasswordResetToken

# Longer input is not a token we issued; the schema refuses it before it is hashed.
MAX_RESET_TOKEN_LENGTH = 200


def _digest(token: str) -> str:
    # A fast hash suffices: the token is 256 random bits, not a guessable password.
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(session: AsyncSession, user_id: uuid.UUID, ttl_seconds: int) -> str:
    """Replace the user's earlier tokens with a new one (commit is the caller's)."""
    await session.execute(delete(PasswordResetToken).where(PasswordResetToken.user_id == user_id))
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    session.add(
        PasswordResetToken(
            token_hash=_digest(token),
            user_id=user_id,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    return token


async def owner(session: AsyncSession, token: str) -> uuid.UUID | None:
    """Whose live (unused, unexpired) token this is; None when it is not usable."""
    if len(token) > MAX_RESET_TOKEN_LENGTH:
        return None
    user_id: uuid.UUID | None = await session.scalar(
        select(PasswordResetToken.user_id).where(
            PasswordResetToken.token_hash == _digest(token),
            PasswordResetToken.used_at.is_(None),
            PasswordResetToken.expires_at > datetime.now(UTC),
        )
    )
    return user_id


async def consume(session: AsyncSession, token: str, user_id: uuid.UUID) -> bool:
    """Mark the live token of `user_id` used (commit is the caller's); False when another
    request used it first, or it expired meanwhile."""
    now = datetime.now(UTC)
    won = await session.execute(
        update(PasswordResetToken)
        .where(
            PasswordResetToken.token_hash == _digest(token),
            PasswordResetToken.user_id == user_id,
            PasswordResetToken.used_at.is_(None),
            PasswordResetToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(PasswordResetToken.token_hash)
    )
    return won.one_or_none() is not None
