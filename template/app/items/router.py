import uuid
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
NameFilter = Annotated[str | None, Query(max_length=200, description="Substring of the name")]
MinPrice = Annotated[str | None, Query(pattern=PRICE_PATTERN, examples=["10.00"])]
MaxPrice = Annotated[str | None, Query(pattern=PRICE_PATTERN, examples=["99.99"])]
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: the If-None-Match ETag is current"}
}
# The OpenAPI error responses of each operation, shared by every contract of the items API.
LIST_ERRORS = error_responses(400, 422, 500) | NOT_MODIFIED
CREATE_ERRORS = error_responses(400, 409, 413, 422, 500)
READ_ERRORS = error_responses(404, 422, 500) | NOT_MODIFIED
UPDATE_ERRORS = error_responses(400, 404, 409, 412, 413, 422, 500)
DELETE_ERRORS = error_responses(404, 409, 412, 422, 500)


def set_created_headers(
    request: Request, response: Response, item: ItemRead, *, replayed: bool
) -> None:
    """Location (under the path that was called, so each mount of the router links to
    itself), ETag and the Idempotent-Replayed marker of a create."""
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{item.id}"
    response.headers["ETag"] = conditional.strong_etag(str(item.version))
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"


@router.get("", response_model=ItemPage, responses=LIST_ERRORS)
async def list_items(
    session: SessionDep,
    response: Response,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: CursorParam = None,
    name: NameFilter = None,
    min_price: MinPrice = None,
    max_price: MaxPrice = None,
    in_stock: bool | None = None,
    if_none_match: IfNoneMatch = None,
) -> ItemPage | Response:
    """List items, oldest first, one page at a time."""
    filters = ItemFilters.parse(name, min_price, max_price, in_stock)
    page = await service.list_items(session, filters, cursor, limit)
    etag = conditional.weak_etag_for(page.model_dump_json().encode())
    return conditional.revalidate(response, etag, if_none_match) or page


@router.post("", status_code=status.HTTP_201_CREATED, responses=CREATE_ERRORS)
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
    set_created_headers(request, response, item, replayed=replayed)
    return item


@router.get("/{item_id}", response_model=ItemRead, responses=READ_ERRORS)
async def read_item(
    item_id: uuid.UUID, session: SessionDep, response: Response, if_none_match: IfNoneMatch = None
) -> ItemRead | Response:
    """Get one item. Answers 304 when `If-None-Match` holds its current ETag."""
    item = await service.get_item(session, item_id)
    not_modified = conditional.revalidate(response, service.etag_of(item), if_none_match)
    return not_modified or ItemRead.model_validate(item)


@router.patch("/{item_id}", responses=UPDATE_ERRORS)
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


@router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT, responses=DELETE_ERRORS)
async def delete_item(item_id: uuid.UUID, session: SessionDep, if_match: IfMatch = None) -> None:
    """Delete an item. Send `If-Match` to refuse deleting a newer version."""
    await service.delete_item(session, item_id, if_match=if_match)
