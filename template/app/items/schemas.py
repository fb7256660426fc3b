import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

PRICE_PATTERN = r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?$"
MAX_WHOLE_PRICE = 9_999_999_999
CENTS = Decimal("0.01")


def _whole_number(value: object) -> object:
    # JSON Schema calls 3.0 an integer; "3" and true are not.
    if isinstance(value, bool | str) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("expected a whole number")
    return value


def _price_as_text_or_integer(value: object) -> object:
    # Money never travels as a binary float: 0.1 + 0.2 is not 0.3. Strings or integers only.
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError('send the price as a string such as "12.50", or as an integer')
    if isinstance(value, str) and not re.fullmatch(PRICE_PATTERN, value):
        raise ValueError('the price must look like "12.50": up to 10 digits and 2 decimals')
    return value


# No NUL characters: PostgreSQL cannot store them in text columns.
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\s\x00][^\x00]*$")
]
Description = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")]
Price = Annotated[
    Decimal,
    BeforeValidator(_price_as_text_or_integer),
    Field(strict=False, ge=0, le=MAX_WHOLE_PRICE, max_digits=12, decimal_places=2),
    AfterValidator(lambda price: price.quantize(CENTS)),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": PRICE_PATTERN},
                {"type": "integer", "minimum": 0, "maximum": MAX_WHOLE_PRICE},
            ],
            "examples": ["12.50"],
        }
    ),
]
MAX_QUANTITY = 1_000_000_000
Quantity = Annotated[
    int,
    BeforeValidator(_whole_number),
    Field(strict=False, ge=0, le=MAX_QUANTITY),
    # Stated explicitly: with a before-validator pydantic would emit non-standard ge/le keys.
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_QUANTITY}),
]


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

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

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
    """Only the fields sent are changed; `description` may be cleared with null."""

    NOT_NULL = ("name", "price", "quantity")

    # SkipJsonSchema: null is refused for these, so the schema must not offer it.
    name: Name | SkipJsonSchema[None] = None
    description: Description | None = None
    price: Price | SkipJsonSchema[None] = None
    quantity: Quantity | SkipJsonSchema[None] = None


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
