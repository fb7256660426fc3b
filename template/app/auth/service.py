"""Accounts and sessions: registration, sign-in, refresh, sign-out, profile, password
reset, administration."""

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import lockout, resets, sessions
from app.auth.context import PasswordResetDelivery, RequestAuth, TenantGrant
from app.auth.errors import (
    EmailTakenError,
    InvalidCredentialsError,
    InvalidResetTokenError,
    NotAuthenticatedError,
    SignInThrottledError,
    UnknownRoleError,
    UserNotFoundError,
)
from app.auth.models import User
from app.auth.revocations import token_key, user_key
from app.auth.schemas import (
    PasswordChange,
    ProfileUpdate,
    TokenPair,
    UserAdminUpdate,
    UserCreate,
    UserPage,
    UserRead,
)
from app.auth.tokens import AccessClaims
from app.core.errors import AppError
from app.core.pagination import Cursor

DEFAULT_ROLES = ["user"]

logger = structlog.get_logger(__name__)


async def create_user(
    session: AsyncSession,
    auth: RequestAuth,
    data: UserCreate,
    roles: list[str] | None = None,
) -> User:
    user = User(
        email=data.email,
        hashed_password=await auth.passwords.hash(data.password),
        full_name=data.full_name,
        roles=sorted(roles or DEFAULT_ROLES),
        is_active=True,
    )
    session.add(user)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise EmailTakenError from None
    return user


async def authenticate(session: AsyncSession, auth: RequestAuth, email: str, password: str) -> User:
    """The active user with these credentials. Exactly one hash whatever the outcome, and
    one error for an unknown e-mail, a wrong password and an inactive account.

    Each attempt counts against the address first (app/auth/lockout.py): while the address
    is locked the answer is a 429 with Retry-After, the same for an unknown address, and no
    password is hashed. A successful sign-in clears the count."""
    throttle = auth.throttle
    key = lockout.account_key(email)
    now = throttle.clock()
    locked_until = await throttle.failures.attempt(key, now, throttle.policy)
    if locked_until is not None:
        raise SignInThrottledError(lockout.retry_after(locked_until, now))
    user = await session.scalar(select(User).where(User.email == email.lower()))
    matches, new_hash = await auth.passwords.verify(
        password, user.hashed_password if user is not None else None
    )
    if user is None or not matches or not user.is_active:
        raise InvalidCredentialsError
    await throttle.failures.clear(key)
    if new_hash is not None:
        # Stored with weaker parameters than today's: upgrade while we hold the password.
        user.hashed_password = new_hash
        await session.commit()
    return user


async def select_tenant(
    session: AsyncSession, auth: RequestAuth, user: User, tenant: str | None
) -> TenantGrant | None:
    """The tenant a session of `user` is signed in to; always None when nothing knows
    tenants (auth alone), whatever the client asked for."""
    if auth.tenant_selector is None:
        return None
    return await auth.tenant_selector(session, user.id, tenant)


async def start_session(
    session: AsyncSession, auth: RequestAuth, user: User, tenant: str | None = None
) -> TokenPair:
    return await _issue(session, auth, user, await select_tenant(session, auth, user, tenant))


async def _issue(
    session: AsyncSession, auth: RequestAuth, user: User, grant: TenantGrant | None
) -> TokenPair:
    refresh_token, family = sessions.issue(
        session,
        user.id,
        auth.settings.refresh_token_ttl_seconds,
        tenant_id=grant.tenant_id if grant is not None else None,
    )
    await session.commit()
    return _token_pair(auth, user, refresh_token, family, grant)


async def refresh_session(session: AsyncSession, auth: RequestAuth, token: str) -> TokenPair:
    rotation = await sessions.consume(session, token)
    if rotation is None:
        raise NotAuthenticatedError
    user = await session.get(User, rotation.user_id)
    if user is None or not user.is_active:
        await session.rollback()
        raise NotAuthenticatedError
    grant = None
    if rotation.tenant_id is not None:
        # The session stays in its tenant, and only while the user still belongs there.
        grant = await _same_tenant(session, auth, user, rotation.tenant_id)
        if grant is None:
            await session.rollback()
            raise NotAuthenticatedError
    refresh_token, family = sessions.issue(
        session,
        user.id,
        auth.settings.refresh_token_ttl_seconds,
        rotation.family_id,
        tenant_id=rotation.tenant_id,
    )
    await session.commit()
    return _token_pair(auth, user, refresh_token, family, grant)


async def _same_tenant(
    session: AsyncSession, auth: RequestAuth, user: User, tenant_id: str
) -> TenantGrant | None:
    try:
        grant = await select_tenant(session, auth, user, tenant_id)
    except AppError:
        return None
    return grant if grant is not None and grant.tenant_id == tenant_id else None


def _token_pair(
    auth: RequestAuth,
    user: User,
    refresh_token: str,
    family: uuid.UUID,
    grant: TenantGrant | None = None,
) -> TokenPair:
    access_token, expires_in = auth.tokens.issue_access_token(
        str(user.id),
        frozenset(user.roles),
        session_id=str(family),
        tenant_id=grant.tenant_id if grant is not None else None,
        tenant_role=grant.role if grant is not None else None,
    )
    return TokenPair(access_token=access_token, expires_in=expires_in, refresh_token=refresh_token)


async def end_session(session: AsyncSession, auth: RequestAuth, claims: AccessClaims) -> None:
    """Sign out: the refresh family of this login is revoked and the access token refused
    until it expires."""
    if claims.session_id is not None:
        try:
            await sessions.revoke_family(session, uuid.UUID(claims.session_id))
            await session.commit()
        except ValueError:
            pass  # not a session id we issued; the access token is still refused below
    now = datetime.now(UTC)
    remaining = int(claims.expires_at - now.timestamp()) + auth.settings.leeway_seconds
    await auth.revocations.revoke(token_key(auth.settings.issuer, claims.token_id), now, remaining)


async def end_all_sessions(session: AsyncSession, auth: RequestAuth, user_id: uuid.UUID) -> None:
    """Every refresh token of the user revoked, every access token issued so far refused."""
    await sessions.revoke_all_of_user(session, user_id)
    await session.commit()
    ttl = auth.settings.access_token_ttl_seconds + auth.settings.leeway_seconds
    await auth.revocations.revoke(user_key(str(user_id)), datetime.now(UTC), ttl)


async def update_profile(session: AsyncSession, user: User, changes: ProfileUpdate) -> User:
    for field, value in changes.model_dump(exclude_unset=True).items():
        setattr(user, field, value)
    await session.commit()
    return user


async def change_password(
    session: AsyncSession,
    auth: RequestAuth,
    user: User,
    change: PasswordChange,
    tenant: str | None = None,
) -> TokenPair:
    """Re-check the current password, store the new one, end every session, and start a
    new one for the caller."""
    matches, _ = await auth.passwords.verify(change.current_password, user.hashed_password)
    if not matches:
        raise InvalidCredentialsError
    user.hashed_password = await auth.passwords.hash(change.new_password)
    await session.commit()
    await end_all_sessions(session, auth, user.id)
    # The new pair stays in the caller's tenant while they still belong to it.
    grant = await _same_tenant(session, auth, user, tenant) if tenant is not None else None
    return await _issue(session, auth, user, grant)


async def request_password_reset(
    session: AsyncSession, auth: RequestAuth, email: str
) -> tuple[uuid.UUID, str] | None:
    """A new reset token for the active account with this e-mail, replacing its earlier
    ones: (user id, token). None for an unknown address or an inactive account; the caller
    answers both cases alike."""
    user = await session.scalar(select(User).where(User.email == email.lower()))
    if user is None or not user.is_active:
        return None
    token = await resets.issue(session, user.id, auth.settings.password_reset_ttl_seconds)
    await session.commit()
    return user.id, token


async def deliver_password_reset(
    delivery: PasswordResetDelivery | None, user_id: uuid.UUID, email: str, token: str
) -> None:
    """Hand the token to the project's delivery; never log it. Failures are logged, not
    raised: the client has its answer already, the same whatever the address."""
    if delivery is None:
        logger.warning("password_reset_undelivered", user_id=str(user_id))
        return
    try:
        await delivery(email, token)
    except Exception as exc:
        # Only the type: the exception of project code may quote the token.
        logger.error(
            "password_reset_delivery_failed", user_id=str(user_id), error=type(exc).__name__
        )


async def reset_password(
    session: AsyncSession, auth: RequestAuth, token: str, new_password: str
) -> None:
    """Set a new password with a live reset token, use the token up, and end every session
    of its user. Any unusable token, or an inactive account, raises one error."""
    user_id = await resets.owner(session, token)
    user = await session.get(User, user_id) if user_id is not None else None
    # Ends the read transaction: nothing is held while the password is hashed.
    await session.commit()
    if user is None or not user.is_active:
        raise InvalidResetTokenError
    hashed = await auth.passwords.hash(new_password)
    # One conditional UPDATE each: of concurrent confirmations with one token exactly one
    # wins, and an account deactivated meanwhile keeps its password.
    changed = None
    if await resets.consume(session, token, user.id):
        changed = await session.scalar(
            update(User)
            .where(User.id == user.id, User.is_active.is_(True))
            .values(hashed_password=hashed)
            .returning(User.id)
        )
    if changed is None:
        await session.rollback()
        raise InvalidResetTokenError
    await session.commit()
    # Sessions end first: if Redis fails below, the refresh tokens are already revoked.
    await end_all_sessions(session, auth, user.id)
    # The owner proved control of the address: a lockout (perhaps someone else's doing)
    # must not keep them from signing in with the new password.
    await auth.throttle.failures.clear(lockout.account_key(user.email))


async def list_users(session: AsyncSession, cursor: str | None, limit: int) -> UserPage:
    after = Cursor.decode(cursor) if cursor is not None else None
    query = select(User).order_by(User.created_at, User.id).limit(limit + 1)
    if after is not None:
        query = query.where(
            or_(
                User.created_at > after.created_at,
                and_(User.created_at == after.created_at, User.id > after.id),
            )
        )
    rows = list(await session.scalars(query))
    page, has_more = rows[:limit], len(rows) > limit
    next_cursor = Cursor(page[-1].created_at, page[-1].id).encode() if has_more else None
    return UserPage(users=[UserRead.model_validate(user) for user in page], next_cursor=next_cursor)


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFoundError
    return user


async def administer_user(
    session: AsyncSession, auth: RequestAuth, user_id: uuid.UUID, changes: UserAdminUpdate
) -> User:
    """Change roles or the active flag. The user's tokens are refused from now on, so the
    change applies at once; an active user keeps their sessions and refreshes into tokens
    with the new roles, a deactivated one is signed out everywhere."""
    user = await get_user(session, user_id)
    if changes.roles is not None:
        if unknown := set(changes.roles) - set(auth.settings.roles):
            raise UnknownRoleError(sorted(unknown))
        user.roles = sorted(set(changes.roles))
    if changes.is_active is not None:
        user.is_active = changes.is_active
    await session.commit()
    if not user.is_active:
        await end_all_sessions(session, auth, user.id)
    else:
        ttl = auth.settings.access_token_ttl_seconds + auth.settings.leeway_seconds
        await auth.revocations.revoke(user_key(str(user.id)), datetime.now(UTC), ttl)
    return user


async def delete_user(session: AsyncSession, auth: RequestAuth, user_id: uuid.UUID) -> None:
    user = await get_user(session, user_id)
    await session.delete(user)
    await session.commit()
    ttl = auth.settings.access_token_ttl_seconds + auth.settings.leeway_seconds
    await auth.revocations.revoke(user_key(str(user_id)), datetime.now(UTC), ttl)
