"""Items belong to the user who created them (the auth side of the items domain).

`own_items` runs first on every items route: writes need a signed-in caller (401), and the
request's database session is marked with whose items it may see. Two session events do the
rest, so the items code itself stays unaware of users: every ORM query for items is narrowed
to the caller's own (another user's id answers 404, exactly like a missing one), and a new
item gets the caller as owner. Admins see and change every item. Anonymous reads are
answered, with nothing in them: an empty list, 404 for any id.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute, RouteContext
from sqlalchemy import event, false
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from app.auth.dependencies import ADMIN, oauth2_scheme
from app.auth.errors import NotAuthenticatedError
from app.core.db import SessionDep
from app.core.principal import current_principal
from app.items.models import Item

SCOPE_KEY = "items_scope"
READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class ItemScope:
    owner_id: uuid.UUID | None  # None: a principal that is not one of our users owns nothing
    sees_all: bool


def _owner_id(subject: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(subject)
    except ValueError:
        return None


async def own_items(
    request: Request, session: SessionDep, _token: Annotated[str | None, Depends(oauth2_scheme)]
) -> None:
    principal = current_principal(request)
    if principal is None:
        if request.method not in READ_METHODS:
            raise NotAuthenticatedError
        session.info[SCOPE_KEY] = ItemScope(owner_id=None, sees_all=False)
        return
    session.info[SCOPE_KEY] = ItemScope(
        owner_id=_owner_id(principal.subject),
        sees_all=principal.has_any_role(frozenset({ADMIN})),
    )


@event.listens_for(Session, "do_orm_execute")
def _only_visible_items(state: ORMExecuteState) -> None:
    scope: ItemScope | None = state.session.info.get(SCOPE_KEY)
    if scope is None or scope.sees_all or not state.is_select:
        return
    criteria: Any = false() if scope.owner_id is None else Item.owner_id == scope.owner_id
    state.statement = state.statement.options(
        with_loader_criteria(Item, criteria, include_aliases=True)
    )


@event.listens_for(Session, "before_flush")
def _owner_of_new_items(session: Session, _context: object, _instances: object) -> None:
    scope: ItemScope | None = session.info.get(SCOPE_KEY)
    if scope is None:
        return
    for instance in session.new:
        if isinstance(instance, Item) and instance.owner_id is None:
            instance.owner_id = scope.owner_id


# For the items routers: `APIRouter(..., dependencies=[OWN_ITEMS])`.
OWN_ITEMS = Depends(own_items)


def declare_optional_auth_on_reads(routes: Iterable[RouteContext]) -> None:
    """Item reads take a token but do not need one: `{}` among their OpenAPI security
    requirements says so (Swagger still sends the token; fuzzers expect no 401)."""
    for context in routes:
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.methods or route.methods - READ_METHODS:
            continue
        if any(dependency.call is own_items for dependency in route.dependant.dependencies):
            route.openapi_extra = {**(route.openapi_extra or {}), "security": [{}]}
