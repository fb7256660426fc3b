"""Layer 1, on every database: the ORM filter, write stamping and failing closed."""

import asyncio
import contextvars
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import TypeVar

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.core.tenant import tenant_scope
from app.items.models import Item
from app.tenancy.isolation import (
    BYPASS_TENANT_FILTER,
    TenantMismatchError,
    TenantRequiredError,
    tenant_scoped_classes,
)
from tests.tenancy.conftest import Tenants

T = TypeVar("T")
SessionFactory = Callable[[], AsyncSession]


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[SessionFactory]:
    engine = create_engine(settings)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


def without_tenant(work: Callable[[], Awaitable[T]]) -> Awaitable[T]:
    """Run `work` in an empty context: no tenant, whatever the surrounding test has."""
    return asyncio.create_task(work(), context=contextvars.Context())  # type: ignore[arg-type]


async def add_item(sessions: SessionFactory, tenant: uuid.UUID, name: str) -> uuid.UUID:
    with tenant_scope(str(tenant)):
        async with sessions() as session:
            item = Item(name=name, price=Decimal("1.00"), quantity=1)
            session.add(item)
            await session.commit()
            assert item.tenant_id == tenant
            return item.id


def test_items_are_tenant_scoped() -> None:
    assert Item in tenant_scoped_classes()


async def test_queries_see_only_the_current_tenant(
    sessions: SessionFactory, tenants: Tenants
) -> None:
    mine = await add_item(sessions, tenants.a, "mine")
    theirs = await add_item(sessions, tenants.b, "theirs")
    with tenant_scope(str(tenants.a)):
        async with sessions() as session:
            assert list(await session.scalars(select(Item.id))) == [mine]
            assert await session.get(Item, theirs) is None
            # Entities only in FROM or in a subquery are filtered as well.
            assert await session.scalar(select(func.count()).select_from(Item)) == 1
            subquery = select(Item.id).scalar_subquery()
            assert list(await session.scalars(select(Item.name).where(Item.id.in_(subquery)))) == [
                "mine"
            ]
            # A bulk UPDATE is filtered too: the other tenant's row is not touched.
            await session.execute(update(Item).values(quantity=5))
            await session.commit()
    with tenant_scope(str(tenants.b)):
        async with sessions() as session:
            assert (await session.get_one(Item, theirs)).quantity == 1


async def test_a_query_without_a_tenant_fails_closed(
    sessions: SessionFactory, tenants: Tenants
) -> None:
    item_id = await add_item(sessions, tenants.a, "mine")

    async def read_all() -> None:
        async with sessions() as session:
            await session.scalars(select(Item))

    async def read_one() -> None:
        async with sessions() as session:
            await session.get(Item, item_id)

    async def write() -> None:
        async with sessions() as session:
            session.add(Item(name="orphan", price=Decimal("1.00"), quantity=1))
            await session.commit()

    async def count() -> None:
        async with sessions() as session:
            await session.scalar(select(func.count()).select_from(Item))

    for work in (read_all, read_one, write, count):
        with pytest.raises(TenantRequiredError):
            await without_tenant(work)


async def test_writes_naming_another_tenant_are_refused(
    sessions: SessionFactory, tenants: Tenants
) -> None:
    item_id = await add_item(sessions, tenants.a, "mine")
    with tenant_scope(str(tenants.a)):
        async with sessions() as session:
            session.add(Item(name="x", price=Decimal("1.00"), quantity=1, tenant_id=tenants.b))
            with pytest.raises(TenantMismatchError):
                await session.flush()
        async with sessions() as session:
            item = await session.get_one(Item, item_id)
            item.tenant_id = tenants.b  # moving a row to another tenant
            with pytest.raises(TenantMismatchError):
                await session.flush()
    with tenant_scope(str(tenants.b)):
        async with sessions() as session:
            assert list(await session.scalars(select(Item))) == []


async def test_the_filter_can_be_bypassed_only_explicitly(
    sessions: SessionFactory, tenants: Tenants
) -> None:
    """Platform tooling may read across tenants on purpose. (The tests' own connection is the
    database owner's; run as the app's role, PostgreSQL still confines such a query to the
    tenant: tests/tenancy/test_postgres.py.)"""
    await add_item(sessions, tenants.a, "a")
    await add_item(sessions, tenants.b, "b")
    with tenant_scope(str(tenants.a)):
        async with sessions() as session:
            assert set(await session.scalars(select(Item.name))) == {"a"}
            query = select(Item.name).execution_options(**{BYPASS_TENANT_FILTER: True})
            assert set(await session.scalars(query)) == {"a", "b"}
