"""The items contract of v2: `name` is `title`, and lists come in a `data` + `pagination`
envelope. Each model converts to or from v1's, which is what the service layer speaks."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Self

from pydantic import BaseModel
from pydantic.json_schema import SkipJsonSchema

from app.items.schemas import (
    Description,
    ItemCreate,
    ItemPage,
    ItemRead,
    ItemUpdate,
    Name,
    PartialUpdate,
    Price,
    Quantity,
    StrictInput,
)


class ItemCreateV2(StrictInput):
    title: Name
    description: Description | None = None
    price: Price
    quantity: Quantity = 0

    def to_v1(self) -> ItemCreate:
        return ItemCreate(
            name=self.title, description=self.description, price=self.price, quantity=self.quantity
        )


class ItemUpdateV2(PartialUpdate):
    NOT_NULL = ("title", "price", "quantity")

    title: Name | SkipJsonSchema[None] = None
    description: Description | None = None
    price: Price | SkipJsonSchema[None] = None
    quantity: Quantity | SkipJsonSchema[None] = None

    def to_v1(self) -> ItemUpdate:
        # Only the fields the client sent: "description": null clears, an absent one stays.
        changes = self.model_dump(exclude_unset=True)
        if "title" in changes:
            changes["name"] = changes.pop("title")
        return ItemUpdate.model_validate(changes)


class ItemV2(BaseModel):
    id: uuid.UUID
    title: str
    description: str | None
    price: Decimal
    quantity: int
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_v1(cls, item: ItemRead) -> Self:
        return cls(title=item.name, **item.model_dump(exclude={"name"}))


class Pagination(BaseModel):
    next_cursor: str | None
    has_more: bool


class ItemListV2(BaseModel):
    data: list[ItemV2]
    pagination: Pagination

    @classmethod
    def from_v1(cls, page: ItemPage) -> Self:
        return cls(
            data=[ItemV2.from_v1(item) for item in page.items],
            pagination=Pagination(
                next_cursor=page.next_cursor, has_more=page.next_cursor is not None
            ),
        )
