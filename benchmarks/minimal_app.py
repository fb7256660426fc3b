"""The hand-written baseline: the smallest FastAPI app that does the generated items API's work.

Async SQLAlchemy ORM on asyncpg, the same page query (20 of 10k rows, keyset order on
(created_at, id)), the same JSON (`{"items": [...], "next_cursor": ...}`), an ETag on the single
item read and an Idempotency-Key record written in the create's transaction. No middleware, no
auth, no limiter, no logging: what a competent developer writes in an afternoon.

It runs in the rendered project's own environment (same FastAPI, SQLAlchemy, asyncpg and
uvicorn versions as the generated service) against the same database, on its own tables
(`minimal_items`, `minimal_idempotency`), which the harness creates and seeds identically.

    DATABASE_URL=postgresql+asyncpg://... uvicorn minimal_app:app --app-dir benchmarks
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import DateTime, Integer, Numeric, String, Text, Uuid, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "minimal_items"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    quantity: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=lambda: datetime.now(UTC)
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=lambda: datetime.now(UTC)
    )


class IdempotencyRecord(Base):
    __tablename__ = "minimal_idempotency"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=lambda: datetime.now(UTC)
    )


class ItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str | None
    price: Decimal
    quantity: int
    version: int
    created_at: datetime
    updated_at: datetime


class ItemPage(BaseModel):
    items: list[ItemRead]
    next_cursor: str | None


class ItemCreate(BaseModel):
    name: str
    description: str | None = None
    price: Decimal
    quantity: int = 0


engine = create_async_engine(os.environ["DATABASE_URL"])
sessionmaker = async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


def _cursor(item: Item) -> str:
    payload = json.dumps([item.created_at.isoformat(), str(item.id)]).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/items", response_model=ItemPage)
async def list_items(session: Session, limit: int = 20) -> ItemPage:
    query = select(Item).order_by(Item.created_at, Item.id).limit(limit + 1)
    rows = list(await session.scalars(query))
    page = rows[:limit]
    next_cursor = _cursor(page[-1]) if len(rows) > limit else None
    return ItemPage(items=[ItemRead.model_validate(row) for row in page], next_cursor=next_cursor)


@app.get("/items/{item_id}", response_model=ItemRead)
async def read_item(
    item_id: uuid.UUID,
    session: Session,
    response: Response,
    if_none_match: Annotated[str | None, Header()] = None,
) -> ItemRead | Response:
    item = await session.get(Item, item_id)
    if item is None:
        raise HTTPException(404)
    etag = f'"{item.version}"'
    if if_none_match == etag:
        return Response(status_code=304, headers={"ETag": etag})
    response.headers["ETag"] = etag
    return ItemRead.model_validate(item)


@app.post("/items", status_code=201, response_model=ItemRead)
async def create_item(
    data: ItemCreate,
    session: Session,
    request: Request,
    response: Response,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> ItemRead:
    fingerprint = hashlib.sha256(data.model_dump_json().encode()).hexdigest()
    if idempotency_key is not None:
        previous = await session.get(IdempotencyRecord, idempotency_key)
        if previous is not None:
            if previous.request_fingerprint != fingerprint:
                raise HTTPException(422)
            return ItemRead.model_validate_json(previous.response_body)
    item = Item(**data.model_dump())
    session.add(item)
    await session.flush()
    created = ItemRead.model_validate(item)
    if idempotency_key is not None:
        session.add(
            IdempotencyRecord(
                key=idempotency_key,
                request_fingerprint=fingerprint,
                response_body=created.model_dump_json(),
            )
        )
    await session.commit()
    response.headers["Location"] = f"{request.url.path}/{item.id}"
    response.headers["ETag"] = f'"{item.version}"'
    return created
