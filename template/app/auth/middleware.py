"""Who is calling: verify the Bearer access token and put the principal on the request.

Pure ASGI, for HTTP and WebSocket scopes alike, and outside every router, so everything
downstream (the rate limiter's key, tenancy, WebSockets, route dependencies) sees the same
principal whatever the order of their dependencies. A missing, invalid, expired or revoked
token leaves the request anonymous; routes that need a user then answer 401.

When the revocation list cannot be read (Redis or the database down), a request with a token
is answered 503 with Retry-After: letting it through could admit a signed-out token, and a 401
would tell the client its token is bad, so it would drop a session that is still valid.
"""

from typing import Any

import structlog
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.context import AuthContext, revocations
from app.auth.tokens import AccessClaims, InvalidTokenError
from app.core.errors import RETRY_AFTER_SECONDS, problem_response
from app.core.principal import Credential, Principal

logger = structlog.get_logger(__name__)

ACCESS_CLAIMS_KEY = "access_claims"
# RFC 6455 close code 1013: the server cannot take the connection now; the client may retry.
WS_TRY_AGAIN_LATER = 1013


class RevocationsUnavailableError(Exception):
    """The revocation list could not be read: the token can be neither trusted nor refused."""


def bearer_token(scope: Scope) -> str | None:
    """The token of an `Authorization: Bearer` header; never one from the query string."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


class PrincipalMiddleware:
    def __init__(self, app: ASGIApp, context: AuthContext) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in {"http", "websocket"}:
            state = scope.get("state", {})
            token = bearer_token(scope)
            if token is not None:
                try:
                    claims = await self._verified(token, state)
                except RevocationsUnavailableError:
                    await self._unavailable(scope, receive, send)
                    return
                if claims is not None:
                    credential = Credential(
                        id=claims.token_id,
                        issued_at=claims.issued_at,
                        session_id=claims.session_id,
                    )
                    principal = Principal(
                        subject=claims.subject,
                        roles=claims.roles,
                        tenant_id=claims.tenant_id,
                        credential=credential,
                    )
                    # A copy: the lifespan state dict is shared by every request.
                    scope["state"] = {
                        **state,
                        "principal": principal,
                        ACCESS_CLAIMS_KEY: claims,
                    }
        await self.app(scope, receive, send)

    async def _verified(self, token: str, state: dict[str, Any]) -> AccessClaims | None:
        try:
            claims = self.context.tokens.verify_access_token(token)
        except InvalidTokenError as exc:
            logger.info("access_token_rejected", reason=str(exc))
            return None
        try:
            revoked = await revocations(state).is_revoked(self.context.settings.issuer, claims)
        except (RedisError, SQLAlchemyError, OSError, TimeoutError) as error:
            logger.warning("revocation_check_failed", error=type(error).__name__)
            raise RevocationsUnavailableError from error
        return None if revoked else claims

    @staticmethod
    async def _unavailable(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # Before the handshake is accepted, a close refuses it.
            await send({"type": "websocket.close", "code": WS_TRY_AGAIN_LATER})
            return
        response = problem_response(
            scope["path"],
            503,
            "Your sign-in cannot be checked right now. Retry shortly.",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
        await response(scope, receive, send)
