"""Sign-up, sign-in (OAuth2 password flow), refresh, sign-out, password reset, the caller's
account, and user administration."""

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request, Response, status

from app.auth import service
from app.auth.context import AuthDep
from app.auth.dependencies import AdminUser, CurrentPrincipal, CurrentUser
from app.auth.errors import NotAuthenticatedError, RegistrationClosedError
from app.auth.middleware import ACCESS_CLAIMS_KEY
from app.auth.passwords import MAX_LENGTH
from app.auth.schemas import (
    PasswordChange,
    PasswordReset,
    PasswordResetAccepted,
    PasswordResetRequest,
    ProfileUpdate,
    RefreshRequest,
    TokenPair,
    UserAdminUpdate,
    UserCreate,
    UserPage,
    UserRead,
)
from app.auth.tokens import AccessClaims
from app.core.db import SessionDep
from app.core.errors import error_responses
from app.core.events import DomainEvent, domain_events
from app.core.pagination import DEFAULT_PAGE_SIZE, CursorParam, Limit

router = APIRouter(tags=["auth"])
users_router = APIRouter(prefix="/users", tags=["users"])

ADMIN_ONLY = error_responses(401, 403, 422, 500)
# New passwords must not be common ones, a rule JSON Schema cannot state (tests/test_fuzz.py).
NEW_PASSWORD = {"x-refuses-some-valid-input": "common passwords are refused"}
# Also only a live reset token the API issued is accepted.
RESET_PASSWORD = {
    "x-refuses-some-valid-input": "common passwords and tokens the API did not issue are refused"
}
RESET_ACCEPTED = PasswordResetAccepted(
    detail="If an active account has this e-mail address, a reset token is on its way to it."
)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _no_store(response: Response) -> None:
    # Tokens must not be kept by caches on the way (RFC 6749 §5.1).
    response.headers.update(NO_STORE)


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 403, 409, 413, 422, 500),
    openapi_extra=NEW_PASSWORD,
)
async def register(
    request: Request, data: UserCreate, session: SessionDep, auth: AuthDep
) -> UserRead:
    """Create an account (when registration is open) with the role `user`."""
    if not auth.settings.registration_open:
        raise RegistrationClosedError
    user = await service.create_user(session, auth, data)
    # Committed: listeners (a welcome task, say) hear of it; the payload holds no personal data.
    user_id = str(user.id)
    event = DomainEvent("user.registered", {"user_id": user_id}, owner_id=user_id)
    await domain_events(request).publish(event)
    return UserRead.model_validate(user)


# The OAuth2 password grant's form (RFC 6749 §4.3.2), what Swagger's Authorize sends (its
# grant_type, scope and client fields are ignored: there is one grant and no scopes). Lengths
# are checked before anything else: an oversized password never reaches the hasher.
Username = Annotated[str, Form(min_length=1, max_length=320, description="Your e-mail")]
Password = Annotated[
    str, Form(min_length=1, max_length=MAX_LENGTH, json_schema_extra={"format": "password"})
]
# With multi-tenancy: the tenant to sign in to (slug or id); ignored without it.
TenantChoice = Annotated[
    str | None,
    Form(
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z0-9-]+$",
        description="With multi-tenancy: the tenant to sign in to, by slug or id",
    ),
]


# 429: too many failed sign-ins to this address (app/auth/lockout.py), with Retry-After.
@router.post("/auth/token", name="login", responses=error_responses(400, 401, 413, 422, 429, 500))
async def login(
    username: Username,
    password: Password,
    session: SessionDep,
    auth: AuthDep,
    response: Response,
    tenant: TenantChoice = None,
) -> TokenPair:
    """Sign in with e-mail (`username`) and password: an access token and a refresh token.
    With multi-tenancy the token is for `tenant`, or for your only tenant when you have one.
    After too many failed sign-ins to one address its sign-ins are refused for a while (429
    with Retry-After, also for unknown addresses); a password reset lifts that."""
    user = await service.authenticate(session, auth, username, password)
    _no_store(response)
    return await service.start_session(session, auth, user, tenant)


@router.post("/auth/refresh", name="refresh", responses=error_responses(400, 401, 413, 422, 500))
async def refresh(
    body: RefreshRequest, session: SessionDep, auth: AuthDep, response: Response
) -> TokenPair:
    """Trade a refresh token for a new pair. Each refresh token works once; presenting a
    used one again signs out every session started by the same login."""
    _no_store(response)
    return await service.refresh_session(session, auth, body.refresh_token)


@router.post(
    "/auth/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(400, 413, 422, 500),
)
async def request_password_reset(
    body: PasswordResetRequest, session: SessionDep, auth: AuthDep, background: BackgroundTasks
) -> PasswordResetAccepted:
    """Ask for a password reset token, sent to the address when it belongs to an active
    account. The answer is the same whatever the address; a new request replaces the
    previous token."""
    issued = await service.request_password_reset(session, auth, body.email)
    if issued is not None:
        user_id, token = issued
        # After the answer: delivery time (an e-mail server) says nothing about the address.
        background.add_task(
            service.deliver_password_reset, auth.password_reset_delivery, user_id, body.email, token
        )
    return RESET_ACCEPTED


@router.post(
    "/auth/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(400, 413, 422, 500),
    openapi_extra=RESET_PASSWORD,
)
async def confirm_password_reset(body: PasswordReset, session: SessionDep, auth: AuthDep) -> None:
    """Set a new password with a reset token. The token works once, and every session of
    the account ends (access tokens included)."""
    await service.reset_password(session, auth, body.token, body.new_password)


@router.post(
    "/auth/logout", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401, 422, 500)
)
async def logout(
    _principal: CurrentPrincipal, session: SessionDep, auth: AuthDep, request: Request
) -> None:
    """Sign out: this access token and the refresh tokens of its login stop working."""
    claims: AccessClaims | None = getattr(request.state, ACCESS_CLAIMS_KEY, None)
    if claims is None:
        raise NotAuthenticatedError  # a principal set by something other than a token
    await service.end_session(session, auth, claims)


@users_router.get("/me", responses=error_responses(401, 422, 500))
async def read_me(user: CurrentUser) -> UserRead:
    """The signed-in user's account."""
    return UserRead.model_validate(user)


@users_router.patch("/me", responses=error_responses(400, 401, 413, 422, 500))
async def update_me(changes: ProfileUpdate, user: CurrentUser, session: SessionDep) -> UserRead:
    """Change your own profile. Roles, the active flag and ids are not yours to set."""
    return UserRead.model_validate(await service.update_profile(session, user, changes))


@users_router.post(
    "/me/password", responses=error_responses(400, 401, 413, 422, 500), openapi_extra=NEW_PASSWORD
)
async def change_password(
    change: PasswordChange,
    user: CurrentUser,
    principal: CurrentPrincipal,
    session: SessionDep,
    auth: AuthDep,
    response: Response,
) -> TokenPair:
    """Change your password (the current one is required). Every session ends, including
    this one; the answer carries a new pair for this client (in the same tenant)."""
    _no_store(response)
    return await service.change_password(session, auth, user, change, principal.tenant_id)


@users_router.get("", responses=ADMIN_ONLY)
async def list_users(
    _admin: AdminUser,
    session: SessionDep,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: CursorParam = None,
) -> UserPage:
    """Every account, oldest first, one page at a time (admins only)."""
    return await service.list_users(session, cursor, limit)


@users_router.get("/{user_id}", responses=error_responses(401, 403, 404, 422, 500))
async def read_user(user_id: uuid.UUID, _admin: AdminUser, session: SessionDep) -> UserRead:
    """One account (admins only)."""
    return UserRead.model_validate(await service.get_user(session, user_id))


@users_router.patch("/{user_id}", responses=error_responses(400, 401, 403, 404, 413, 422, 500))
async def administer_user(
    user_id: uuid.UUID,
    changes: UserAdminUpdate,
    _admin: AdminUser,
    session: SessionDep,
    auth: AuthDep,
) -> UserRead:
    """Change an account's roles or active flag (admins only); applies at once."""
    user = await service.administer_user(session, auth, user_id, changes)
    return UserRead.model_validate(user)


@users_router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 422, 500),
)
async def delete_user(
    user_id: uuid.UUID, _admin: AdminUser, session: SessionDep, auth: AuthDep
) -> None:
    """Delete an account and everything it owns (admins only)."""
    await service.delete_user(session, auth, user_id)


router.include_router(users_router)
