import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status

from app.core import conditional
from app.core.config import Settings
from app.core.db import SessionDep
from app.core.errors import error_responses
from app.core.idempotency import IdempotencyKey
from app.core.pagination import DEFAULT_PAGE_SIZE, CursorParam, Limit
from app.items import service
from app.items.repository import ItemFilters
from app.items.schemas import PRICE_PATTERN, ItemCreate, ItemPage, ItemRead, ItemUpdate

router = APIRouter(prefix="/items", tags=["items"])

IfNoneMatch = Annotated[str | None, Header(max_length=1000)]
IfMatch = Annotated[
    str | None,
    Header(max_length=1000, description='ETag of the version you read, e.g. "3"; 412 if stale'),
]
# Clients may cache, but must revalidate with If-None-Match before reuse.
REVALIDATE = "private, no-cache"
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: the If-None-Match ETag is current"}
}


@router.get("", response_model=ItemPage, responses=error_responses(400, 422, 500) | NOT_MODIFIED)
async def list_items(
    session: SessionDep,
    response: Response,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: CursorParam = None,
    name: Annotated[str | None, Query(max_length=200, description="Substring of the name")] = None,
    min_price: Annotated[str | None, Query(pattern=PRICE_PATTERN, examples=["10.00"])] = None,
    max_price: Annotated[str | None, Query(pattern=PRICE_PATTERN, examples=["99.99"])] = None,
    in_stock: bool | None = None,
    if_none_match: IfNoneMatch = None,
) -> ItemPage | Response:
    """List items, oldest first, one page at a time."""
    filters = ItemFilters(
        name=name,
        min_price=Decimal(min_price) if min_price is not None else None,
        max_price=Decimal(max_price) if max_price is not None else None,
        in_stock=in_stock,
    )
    page = await service.list_items(session, filters, cursor, limit)
    etag = conditional.weak_etag_for(page.model_dump_json().encode())
    if conditional.none_match(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": REVALIDATE})
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = REVALIDATE
    return page


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 409, 413, 422, 500),
)
async def create_item(
    data: ItemCreate,
    session: SessionDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ItemRead:
    """Create an item. Send an `Idempotency-Key` to make retries safe."""
    settings: Settings = request.state.settings
    item, replayed = await service.create_item(
        session, data, idempotency_key=idempotency_key, ttl_seconds=settings.idempotency_ttl_seconds
    )
    response.headers["Location"] = str(request.url_for("read_item", item_id=item.id).path)
    response.headers["ETag"] = conditional.strong_etag(str(item.version))
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return item


@router.get(
    "/{item_id}", response_model=ItemRead, responses=error_responses(404, 422, 500) | NOT_MODIFIED
)
async def read_item(
    item_id: uuid.UUID, session: SessionDep, response: Response, if_none_match: IfNoneMatch = None
) -> ItemRead | Response:
    """Get one item. Answers 304 when `If-None-Match` holds its current ETag."""
    item = await service.get_item(session, item_id)
    etag = service.etag_of(item)
    if conditional.none_match(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": REVALIDATE})
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = REVALIDATE
    return ItemRead.model_validate(item)


@router.patch("/{item_id}", responses=error_responses(400, 404, 409, 412, 413, 422, 500))
async def update_item(
    item_id: uuid.UUID,
    changes: ItemUpdate,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> ItemRead:
    """Change some fields of an item. Send `If-Match` to refuse overwriting a newer version."""
    item = await service.update_item(session, item_id, changes, if_match=if_match)
    response.headers["ETag"] = service.etag_of(item)
    return ItemRead.model_validate(item)


@router.delete(
    "/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404, 409, 412, 422, 500),
)
async def delete_item(item_id: uuid.UUID, session: SessionDep, if_match: IfMatch = None) -> None:
    """Delete an item. Send `If-Match` to refuse deleting a newer version."""
    await service.delete_item(session, item_id, if_match=if_match)
