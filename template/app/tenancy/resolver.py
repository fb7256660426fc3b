"""Looking tenants up by id or slug, with a short cache in front of the database."""

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.tenancy.models import Tenant, TenantStatus

# Unknown names are cached too (a client cannot make every request hit the database), and
# the cache is bounded (nor can it grow it without limit by inventing names).
MAX_CACHED = 4096


@dataclass(frozen=True, slots=True)
class KnownTenant:
    id: uuid.UUID
    slug: str
    active: bool


class TenantResolver:
    """Tenants by id (`by_id`) or slug (`by_slug`), cached for `ttl` seconds."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._cache: OrderedDict[str, tuple[float, KnownTenant | None]] = OrderedDict()

    async def by_id(
        self, sessionmaker: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID
    ) -> KnownTenant | None:
        return await self._lookup(sessionmaker, f"id:{tenant_id}", Tenant.id == tenant_id)

    async def by_slug(
        self, sessionmaker: async_sessionmaker[AsyncSession], slug: str
    ) -> KnownTenant | None:
        return await self._lookup(sessionmaker, f"slug:{slug}", Tenant.slug == slug)

    async def _lookup(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        key: str,
        condition: ColumnElement[bool],
    ) -> KnownTenant | None:
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with sessionmaker() as session:
            row = (await session.execute(select(Tenant).where(condition))).scalar_one_or_none()
        found = (
            None
            if row is None
            else KnownTenant(row.id, row.slug, row.status == TenantStatus.ACTIVE.value)
        )
        self._cache[key] = (now + self.ttl, found)
        self._cache.move_to_end(key)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)
        return found
