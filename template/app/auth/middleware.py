"""Who is calling: verify the Bearer access token and put the principal on the request.

Pure ASGI, for HTTP and WebSocket scopes alike, and outside every router, so everything
downstream (the rate limiter's key, tenancy, WebSockets, route dependencies) sees the same
principal whatever the order of their dependencies. A missing, invalid, expired or revoked
token leaves the request anonymous; routes that need a user then answer 401.
"""

from typing import Any

import structlog
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.context import AuthContext, revocations
from app.auth.tokens import AccessClaims, InvalidTokenError
from app.core.principal import Credential, Principal

logger = structlog.get_logger(__name__)

ACCESS_CLAIMS_KEY = "access_claims"


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
                claims = await self._verified(token, state)
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
        except (RedisError, SQLAlchemyError, OSError, TimeoutError):
            # Fail closed: without the revocation list a signed-out token could pass.
            logger.warning("revocation_check_failed", exc_info=True)
            return None
        return None if revoked else claims
