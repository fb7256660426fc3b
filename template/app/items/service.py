import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.core import conditional
from app.core.idempotency import find_previous_response, fingerprint, remember_response
from app.core.pagination import Cursor
from app.items.errors import ItemConcurrentUpdateError, ItemNotFoundError, ItemVersionMismatchError
from app.items.models import Item
from app.items.repository import ItemFilters, ItemRepository
from app.items.schemas import ItemCreate, ItemPage, ItemRead, ItemUpdate

CREATE_SCOPE = "items.create"


def etag_of(item: Item) -> str:
    return conditional.strong_etag(str(item.version))


async def get_item(session: AsyncSession, item_id: uuid.UUID) -> Item:
    item = await ItemRepository(session).get(item_id)
    if item is None:
        raise ItemNotFoundError(item_id)
    return item


async def list_items(
    session: AsyncSession, filters: ItemFilters, cursor: str | None, limit: int
) -> ItemPage:
    after = Cursor.decode(cursor) if cursor is not None else None
    rows = await ItemRepository(session).page(filters, after, limit)
    page, has_more = rows[:limit], len(rows) > limit
    next_cursor = Cursor(page[-1].created_at, page[-1].id).encode() if has_more else None
    return ItemPage(items=[ItemRead.model_validate(item) for item in page], next_cursor=next_cursor)


async def create_item(
    session: AsyncSession,
    data: ItemCreate,
    *,
    idempotency_key: str | None,
    ttl_seconds: int,
    caller: str | None = None,
) -> tuple[ItemRead, bool]:
    """Create an item; returns it and whether it is the replay of an earlier identical request.

    Keys are the caller's own (`caller` is the principal's subject): the same key from
    someone else is another operation, never a replay of theirs.
    """
    if idempotency_key is None:
        item = Item(**data.model_dump())
        ItemRepository(session).add(item)
        await session.commit()
        return ItemRead.model_validate(item), False

    request_fingerprint = fingerprint(data)
    lookup = {
        "scope": CREATE_SCOPE if caller is None else f"{CREATE_SCOPE}:{caller}",
        "key": idempotency_key,
        "request_fingerprint": request_fingerprint,
    }
    previous = await find_previous_response(session, **lookup, ttl_seconds=ttl_seconds)
    if previous is not None:
        return ItemRead.model_validate_json(previous.response_body), True

    item = Item(**data.model_dump())
    ItemRepository(session).add(item)
    await session.flush()
    created = ItemRead.model_validate(item)
    remember_response(session, **lookup, status_code=201, response_body=created.model_dump_json())
    try:
        await session.commit()
    except IntegrityError:
        # A concurrent request with the same key won the race: answer as it did.
        await session.rollback()
        previous = await find_previous_response(session, **lookup, ttl_seconds=ttl_seconds)
        if previous is None:
            raise
        return ItemRead.model_validate_json(previous.response_body), True
    return created, False


async def update_item(
    session: AsyncSession, item_id: uuid.UUID, changes: ItemUpdate, *, if_match: str | None
) -> Item:
    item = await _get_for_write(session, item_id, if_match)
    for field, value in changes.model_dump(exclude_unset=True).items():
        setattr(item, field, value)
    await _commit_write(session)
    return item


async def delete_item(session: AsyncSession, item_id: uuid.UUID, *, if_match: str | None) -> None:
    item = await _get_for_write(session, item_id, if_match)
    await ItemRepository(session).delete(item)
    await _commit_write(session)


async def _get_for_write(session: AsyncSession, item_id: uuid.UUID, if_match: str | None) -> Item:
    item = await get_item(session, item_id)
    if if_match is not None and not conditional.match(if_match, etag_of(item)):
        raise ItemVersionMismatchError
    return item


async def _commit_write(session: AsyncSession) -> None:
    # The version column makes the UPDATE/DELETE conditional on the version we read, so a
    # write that raced with another one fails here instead of overwriting it.
    try:
        await session.commit()
    except StaleDataError as exc:
        await session.rollback()
        raise ItemConcurrentUpdateError from exc
