import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.pagination import Cursor
from app.items.models import Item


@dataclass(frozen=True, slots=True)
class ItemFilters:
    name: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None

    @classmethod
    def parse(
        cls, name: str | None, min_price: str | None, max_price: str | None, in_stock: bool | None
    ) -> "ItemFilters":
        """Filters from query values already checked against the price pattern."""
        return cls(
            name=name,
            min_price=Decimal(min_price) if min_price is not None else None,
            max_price=Decimal(max_price) if max_price is not None else None,
            in_stock=in_stock,
        )


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ItemRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, item_id: uuid.UUID) -> Item | None:
        return await self.session.get(Item, item_id)

    async def page(self, filters: ItemFilters, after: Cursor | None, limit: int) -> list[Item]:
        """Up to `limit + 1` rows after the cursor; the extra row tells that a next page exists."""
        query = self._filtered(select(Item), filters)
        if after is not None:
            query = query.where(
                or_(
                    Item.created_at > after.created_at,
                    and_(Item.created_at == after.created_at, Item.id > after.id),
                )
            )
        query = query.order_by(Item.created_at, Item.id).limit(limit + 1)
        return list(await self.session.scalars(query))

    def add(self, item: Item) -> None:
        self.session.add(item)

    async def delete(self, item: Item) -> None:
        await self.session.delete(item)

    @staticmethod
    def _filtered(query: Select[tuple[Item]], filters: ItemFilters) -> Select[tuple[Item]]:
        if filters.name:
            query = query.where(Item.name.ilike(f"%{_escape_like(filters.name)}%", escape="\\"))
        if filters.min_price is not None:
            query = query.where(Item.price >= filters.min_price)
        if filters.max_price is not None:
            query = query.where(Item.price <= filters.max_price)
        if filters.in_stock is True:
            query = query.where(Item.quantity > 0)
        if filters.in_stock is False:
            query = query.where(Item.quantity == 0)
        return query
