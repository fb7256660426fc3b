"""Idempotency-Key support: a retried create returns the first response instead of a duplicate.

The record is written in the same transaction as the resource, so either both exist or
neither does. Keys are scoped (per operation, and per principal where auth exists) and
expire after IDEMPOTENCY_TTL_SECONDS.
"""

import hashlib
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Header
from pydantic import BaseModel
from sqlalchemy import Integer, String, Text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.errors import UnprocessableError
from app.core.models import Base, UTCDateTime, utcnow
from app.core.tenant import current_tenant_id

IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Unique key per logical operation; a retry with the same key and body "
        "returns the original response.",
    ),
]


class IdempotencyKeyReusedError(UnprocessableError):
    def __init__(self) -> None:
        super().__init__("This Idempotency-Key was already used with a different request body.")


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


def _scoped(scope: str) -> str:
    """The stored scope: per tenant where there are tenants, so one tenant's key never
    replays another tenant's response."""
    tenant_id = current_tenant_id()
    return scope if tenant_id is None else f"{scope}@{tenant_id}"


def fingerprint(payload: BaseModel) -> str:
    return hashlib.sha256(payload.model_dump_json().encode()).hexdigest()


async def find_previous_response(
    session: AsyncSession, *, scope: str, key: str, request_fingerprint: str, ttl_seconds: int
) -> IdempotencyRecord | None:
    record = await session.get(IdempotencyRecord, (_scoped(scope), key))
    if record is None:
        return None
    if record.created_at < utcnow() - timedelta(seconds=ttl_seconds):
        await session.delete(record)
        await session.flush()
        return None
    if record.request_fingerprint != request_fingerprint:
        raise IdempotencyKeyReusedError
    return record


def remember_response(
    session: AsyncSession,
    *,
    scope: str,
    key: str,
    request_fingerprint: str,
    status_code: int,
    response_body: str,
) -> None:
    session.add(
        IdempotencyRecord(
            scope=_scoped(scope),
            key=key,
            request_fingerprint=request_fingerprint,
            status_code=status_code,
            response_body=response_body,
        )
    )
