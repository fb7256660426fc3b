"""Items in v2: the v1 operations with v2's schemas, delegating to the same service layer
and the same HTTP helpers (ETag/304, Location, Idempotency-Key, If-Match/412)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from app.core import conditional
from app.core.config import Settings
from app.core.db import SessionDep
from app.core.idempotency import IdempotencyKey
from app.core.pagination import DEFAULT_PAGE_SIZE, CursorParam, Limit
from app.core.principal import current_principal
from app.items import router as v1
from app.items import service
from app.items.repository import ItemFilters
from app.items.schemas import ItemRead
from app.versioning.v2.schemas import ItemCreateV2, ItemListV2, ItemUpdateV2, ItemV2

router = APIRouter(prefix="/items", tags=["items"], dependencies=v1.router.dependencies)

TitleFilter = Annotated[
    str | None, Query(max_length=200, pattern=r"^[^\x00]*$", description="Substring of the title")
]


@router.get("", response_model=ItemListV2, responses=v1.LIST_ERRORS)
async def list_items(
    session: SessionDep,
    response: Response,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: CursorParam = None,
    title: TitleFilter = None,
    min_price: v1.MinPrice = None,
    max_price: v1.MaxPrice = None,
    in_stock: bool | None = None,
    if_none_match: v1.IfNoneMatch = None,
) -> Response:
    """List items, oldest first: `data` holds a page, `pagination` the cursor of the next."""
    filters = ItemFilters.parse(title, min_price, max_price, in_stock)
    page = ItemListV2.from_v1(await service.list_items(session, filters, cursor, limit))
    return conditional.tagged_json(response, page, if_none_match)


@router.post("", status_code=status.HTTP_201_CREATED, responses=v1.CREATE_ERRORS)
async def create_item(
    data: ItemCreateV2,
    session: SessionDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ItemV2:
    """Create an item. Send an `Idempotency-Key` to make retries safe."""
    settings: Settings = request.state.settings
    # The key is shared with v1: a retry through either version replays the first create.
    principal = current_principal(request)
    item, replayed = await service.create_item(
        session,
        data.to_v1(),
        idempotency_key=idempotency_key,
        ttl_seconds=settings.idempotency_ttl_seconds,
        caller=principal.subject if principal is not None else None,
    )
    v1.set_created_headers(request, response, item, replayed=replayed)
    if not replayed:
        await v1.publish(request, "item.created", item.model_dump(mode="json"))
    return ItemV2.from_v1(item)


@router.get("/{item_id}", response_model=ItemV2, responses=v1.READ_ERRORS)
async def read_item(
    item_id: uuid.UUID,
    session: SessionDep,
    response: Response,
    if_none_match: v1.IfNoneMatch = None,
) -> ItemV2 | Response:
    """Get one item. Answers 304 when `If-None-Match` holds its current ETag."""
    item = await service.get_item(session, item_id)
    not_modified = conditional.revalidate(response, service.etag_of(item), if_none_match)
    return not_modified or ItemV2.from_v1(ItemRead.model_validate(item))


@router.patch("/{item_id}", responses=v1.UPDATE_ERRORS)
async def update_item(
    item_id: uuid.UUID,
    changes: ItemUpdateV2,
    session: SessionDep,
    request: Request,
    response: Response,
    if_match: v1.IfMatch = None,
) -> ItemV2:
    """Change some fields of an item. Send `If-Match` to refuse overwriting a newer version."""
    item = await service.update_item(session, item_id, changes.to_v1(), if_match=if_match)
    response.headers["ETag"] = service.etag_of(item)
    # Listeners hear the domain's shape (v1's), whichever version made the change.
    updated = ItemRead.model_validate(item)
    await v1.publish(request, "item.updated", updated.model_dump(mode="json"))
    return ItemV2.from_v1(updated)


# Deleting has the same contract in both versions: v2 serves v1's operation as it is.
router.add_api_route(
    "/{item_id}",
    v1.delete_item,
    methods=["DELETE"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=v1.DELETE_ERRORS,
)
