"""Users, OAuth2 password sign-in, JWT access tokens, rotating refresh tokens, roles (the
`auth` feature).

Wiring, done by the template: `install_auth(app, settings)` in app/main.py verifies tokens
on every request (HTTP and WebSocket) and puts the principal on it; the router in app/api.py
serves /auth/... and /users/...; items routes depend on `own_items` (app/items/router.py).
Everything else reads the caller through app.core.principal and never imports this package.

Password reset tokens reach their owner through a delivery the project supplies (an e-mail,
say): `install_auth(app, settings, password_reset_delivery=send)` or, later,
`use_password_reset_delivery(app, send)`, where `send(email, token)` is awaited after the
answer. Without one, reset requests are answered but nothing is sent.

Failed sign-ins are counted per e-mail address and too many lock the address's sign-ins
for a while (429, never permanent, never in the way of a password reset): app/auth/lockout.py.
"""

import dataclasses

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from app.auth.config import AuthSettings
from app.auth.context import STATE_KEY, AuthContext, PasswordResetDelivery
from app.auth.dependencies import CurrentUser, current_user, require_roles
from app.auth.liveness import principal_check
from app.auth.middleware import PrincipalMiddleware
from app.auth.ownership import declare_optional_auth_on_reads
from app.auth.passwords import Passwords
from app.auth.router import router
from app.auth.tokens import TokenCodec
from app.core.config import Settings

__all__ = [
    "AuthSettings",
    "CurrentUser",
    "PasswordResetDelivery",
    "current_user",
    "install_auth",
    "require_roles",
    "router",
    "use_password_reset_delivery",
]


def install_auth(
    app: FastAPI,
    settings: Settings,
    auth_settings: AuthSettings | None = None,
    password_reset_delivery: PasswordResetDelivery | None = None,
) -> None:
    """Verify access tokens on every request of `app`.

    AUTH_* settings and the signing keys are checked here, at start-up: a short secret or
    a missing key stops the service instead of failing on the first sign-in.
    """
    auth_settings = auth_settings or AuthSettings()
    context = AuthContext(
        settings=auth_settings,
        tokens=TokenCodec(auth_settings, settings),
        passwords=Passwords(auth_settings.hash_concurrency),
        password_reset_delivery=password_reset_delivery,
    )
    setattr(app.state, STATE_KEY, context)
    declare_optional_auth_on_reads(iter_route_contexts(app.routes))
    app.add_middleware(PrincipalMiddleware, context=context)
    # Runtime contract for long-lived connections (WebSockets): may the caller still act?
    app.state.principal_check = principal_check(auth_settings.issuer)


def use_password_reset_delivery(app: FastAPI, delivery: PasswordResetDelivery | None) -> None:
    """Send password reset tokens with `delivery` from now on (None: send nothing)."""
    context: AuthContext = getattr(app.state, STATE_KEY)
    setattr(app.state, STATE_KEY, dataclasses.replace(context, password_reset_delivery=delivery))
