"""The auth machinery of an app, built once by `install_auth` and shared by middleware and
routes."""

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from app.auth.config import AuthSettings
from app.auth.lockout import (
    DatabaseLoginFailures,
    LockoutPolicy,
    LoginFailures,
    RedisLoginFailures,
)
from app.auth.passwords import Passwords
from app.auth.revocations import DatabaseRevocations, RedisRevocations, Revocations
from app.auth.tokens import TokenCodec

STATE_KEY = "auth"


@dataclass(frozen=True, slots=True)
class TenantGrant:
    """The tenant a session is signed in to, and the user's role there."""

    tenant_id: str
    role: str


# Chooses the tenant of a new or refreshed session: (database session, user id, the tenant
# asked for, by slug or id, or None). Returns the grant, None for a session without a tenant,
# or raises an AppError the client sees. Set by whatever knows tenants (multi-tenancy's
# memberships); without one, sessions never carry a tenant.
TenantSelector = Callable[[AsyncSession, uuid.UUID, str | None], Awaitable[TenantGrant | None]]

# Sends a password reset token to its owner: (e-mail address, token). Called after the token
# is stored and the 202 is sent; the project decides how (an e-mail with a link, a queued
# task). Without one, requests are answered alike but nothing is delivered (a warning is
# logged). Set with `install_auth(..., password_reset_delivery=...)` or
# `use_password_reset_delivery(app, ...)`.
PasswordResetDelivery = Callable[[str, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AuthContext:
    settings: AuthSettings
    tokens: TokenCodec
    passwords: Passwords
    tenant_selector: TenantSelector | None = None
    password_reset_delivery: PasswordResetDelivery | None = None
    # Epoch seconds; sign-in throttling reads the time here (tests move it).
    clock: Callable[[], float] = time.time


def auth_context(connection: HTTPConnection) -> AuthContext:
    context: AuthContext = getattr(connection.app.state, STATE_KEY)
    return context


def revocations(lifespan_state: Mapping[str, Any]) -> Revocations:
    """Redis when REDIS_URL is set, the database otherwise (both opened by the core lifespan)."""
    redis = lifespan_state.get("redis")
    if redis is not None:
        return RedisRevocations(redis)
    return DatabaseRevocations(lifespan_state["sessionmaker"])


def request_revocations(connection: HTTPConnection) -> Revocations:
    return revocations(connection.scope["state"])


def login_failures(lifespan_state: Mapping[str, Any]) -> LoginFailures:
    """Failed sign-in counters: Redis when REDIS_URL is set, the database otherwise."""
    redis = lifespan_state.get("redis")
    if redis is not None:
        return RedisLoginFailures(redis)
    return DatabaseLoginFailures(lifespan_state["sessionmaker"])


@dataclass(frozen=True, slots=True)
class SignInThrottle:
    """Per-account throttling of password sign-ins: the store, the policy, the clock."""

    failures: LoginFailures
    policy: LockoutPolicy
    clock: Callable[[], float]


@dataclass(frozen=True, slots=True)
class RequestAuth:
    """What a route needs: the app's auth machinery and this request's revocation store."""

    settings: AuthSettings
    tokens: TokenCodec
    passwords: Passwords
    revocations: Revocations
    throttle: SignInThrottle
    tenant_selector: TenantSelector | None = None
    password_reset_delivery: PasswordResetDelivery | None = None


def request_auth(request: Request) -> RequestAuth:
    context = auth_context(request)
    return RequestAuth(
        settings=context.settings,
        tokens=context.tokens,
        passwords=context.passwords,
        revocations=request_revocations(request),
        throttle=SignInThrottle(
            failures=login_failures(request.scope["state"]),
            policy=LockoutPolicy.from_settings(context.settings),
            clock=context.clock,
        ),
        tenant_selector=context.tenant_selector,
        password_reset_delivery=context.password_reset_delivery,
    )


AuthDep = Annotated[RequestAuth, Depends(request_auth)]
