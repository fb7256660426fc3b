"""Route dependencies: who must be calling, and with which roles.

They read the principal the middleware verified; `current_user` also loads the account, so
a deactivated or deleted user is refused at once even while their token is still valid.
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from app.auth.errors import ForbiddenError, NotAuthenticatedError
from app.auth.models import User
from app.core.db import SessionDep
from app.core.principal import Principal, current_principal

ADMIN = "admin"

# Declares the OAuth2 password flow in OpenAPI, so Swagger's Authorize button signs in
# (served at /api/auth/token in every combination). The middleware does the verifying.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


async def require_principal(
    request: Request, _token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    principal = current_principal(request)
    if principal is None:
        raise NotAuthenticatedError
    return principal


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]


async def current_user(principal: CurrentPrincipal, session: SessionDep) -> User:
    try:
        user_id = uuid.UUID(principal.subject)
    except ValueError:
        raise NotAuthenticatedError from None  # a principal from elsewhere, not a user of ours
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotAuthenticatedError
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_roles(*roles: str) -> Callable[..., Awaitable[User]]:
    """A dependency admitting active users holding at least one of `roles` (403 otherwise)."""
    wanted = frozenset(roles)

    async def dependency(user: CurrentUser) -> User:
        # The roles stored now, not those in the token: a demotion applies at once.
        if wanted.isdisjoint(user.roles):
            raise ForbiddenError
        return user

    return dependency


AdminUser = Annotated[User, Depends(require_roles(ADMIN))]
