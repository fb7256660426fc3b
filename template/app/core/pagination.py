"""Keyset (cursor) pagination: stable under inserts, constant cost at any depth."""

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Query

from app.core.errors import UnprocessableError

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

Limit = Annotated[
    int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Page size, at most {MAX_PAGE_SIZE}")
]
CursorParam = Annotated[
    str | None,
    Query(max_length=200, description="`next_cursor` of the previous page; omit for the first"),
]


class InvalidCursorError(UnprocessableError):
    def __init__(self) -> None:
        super().__init__("The cursor is invalid; use the next_cursor of a previous page.")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position after the last row of a page, ordered by (created_at, id)."""

    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        payload = json.dumps([self.created_at.isoformat(), str(self.id)]).encode()
        return base64.urlsafe_b64encode(payload).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> "Cursor":
        try:
            padded = token + "=" * (-len(token) % 4)
            created_at, row_id = json.loads(base64.urlsafe_b64decode(padded))
            cursor = cls(datetime.fromisoformat(created_at), uuid.UUID(row_id))
        except (ValueError, TypeError, binascii.Error) as exc:
            raise InvalidCursorError from exc
        if cursor.created_at.tzinfo is None:
            raise InvalidCursorError
        return cursor
