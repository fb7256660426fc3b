"""Refresh tokens: opaque, single use, rotated on every refresh, revoked by family.

A login starts a family; each refresh marks the presented token used and issues the next
one in the same family. A used (or revoked) token presented again means two parties hold
it, and nobody can tell which one is the thief: the whole family is revoked (RFC 9700
§4.14.2). Marking a token used is one conditional UPDATE, so of several concurrent
refreshes with one token exactly one wins on SQLite and PostgreSQL alike; the others see a
used token and revoke the family. There is no grace window: clients refresh once at a time.
"""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.auth.models import RefreshToken

# Longer input is not a token we issued; refuse it before hashing.
MAX_REFRESH_TOKEN_LENGTH = 200


def _digest(token: str) -> str:
    # A fast hash suffices: the token is 256 random bits, not a guessable password.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Rotation:
    user_id: uuid.UUID
    family_id: uuid.UUID
    tenant_id: str | None


def issue(
    session: AsyncSession,
    user_id: uuid.UUID,
    ttl_seconds: int,
    family_id: uuid.UUID | None = None,
    tenant_id: str | None = None,
) -> tuple[str, uuid.UUID]:
    """Add a new refresh token (commit is the caller's); returns it and its family id."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    family = family_id or uuid.uuid4()
    session.add(
        RefreshToken(
            token_hash=_digest(token),
            family_id=family,
            user_id=user_id,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
            tid=tenant_id,
        )
    )
    return token, family


async def consume(session: AsyncSession, token: str) -> Rotation | None:
    """Mark a live token used and return whose it was; None when it is not usable.

    A token that exists but was already used or revoked revokes its family (committed here,
    so the revocation stands whatever the caller does next).
    """
    if len(token) > MAX_REFRESH_TOKEN_LENGTH:
        return None
    now = datetime.now(UTC)
    digest = _digest(token)
    sibling = aliased(RefreshToken)
    won = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.token_hash == digest,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now,
            # A token issued by a refresh that raced with the family's revocation is dead too.
            ~exists().where(
                sibling.family_id == RefreshToken.family_id, sibling.revoked_at.is_not(None)
            ),
        )
        .values(used_at=now)
        .returning(RefreshToken.user_id, RefreshToken.family_id, RefreshToken.tid)
    )
    row = won.one_or_none()
    if row is not None:
        return Rotation(user_id=row.user_id, family_id=row.family_id, tenant_id=row.tid)
    family = await session.scalar(
        select(RefreshToken.family_id).where(
            RefreshToken.token_hash == digest, RefreshToken.expires_at > now
        )
    )
    if family is not None:
        await revoke_family(session, family)
        await session.commit()
    return None


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


async def revoke_all_of_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
