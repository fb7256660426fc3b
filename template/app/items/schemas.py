import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=2000)]
# JSON has no decimal type: accept a string ("12.50") or a number, never a bool.
Price = Annotated[
    Decimal, Field(strict=False, ge=0, max_digits=12, decimal_places=2, examples=["12.50"])
]
Quantity = Annotated[int, Field(ge=0, le=1_000_000_000)]


class StrictInput(BaseModel):
    # Unknown fields are errors (no mass assignment) and types are not coerced ("1" is no int).
    model_config = ConfigDict(extra="forbid", strict=True)


class ItemCreate(StrictInput):
    name: Name
    description: Description | None = None
    price: Price
    quantity: Quantity = 0


class PartialUpdate(StrictInput):
    """A PATCH body: at least one field, and null only where the column allows it."""

    NOT_NULL: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        for field in self.NOT_NULL:
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


class ItemUpdate(PartialUpdate):
    NOT_NULL = ("name", "price", "quantity")

    name: Name | None = None
    description: Description | None = None
    price: Price | None = None
    quantity: Quantity | None = None


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
