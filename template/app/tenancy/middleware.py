"""Resolve the tenant of each request or WebSocket and run it inside `tenant_scope(...)`.

Order of trust: a verified principal's tenant (set by authentication, which runs outside this
middleware) always wins and a header cannot override it. A principal without a tenant (a
platform-level account) gets no tenant at all: its request runs outside any tenant, so tenant
data refuses it, and a header cannot give it one either. Without a principal, the tenant comes
from the header or subdomain that a trusted gateway sets. Either way it must exist and be
active.

Paths registered with `app.core.tenant.exempt_from_tenant_resolution` (by code that knows
its routes hold no tenant data or learn the tenant another way: accounts with memberships,
the WebSocket handshake) are served without one.
"""

import uuid

import structlog
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.db import database_unavailable_response, is_database_outage
from app.core.errors import problem_response
from app.core.principal import Principal
from app.core.tenant import is_exempt_from_tenant_resolution, tenant_scope
from app.tenancy.config import TenancySettings
from app.tenancy.resolver import KnownTenant, TenantResolver

# Documentation pages and OpenAPI documents, wherever they are mounted (/api/v1/docs too).
DOCS_SUFFIXES = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")
# WebSocket close code "policy violation": the handshake names no usable tenant.
WS_POLICY_VIOLATION = 1008

logger = structlog.get_logger(__name__)


class TenantError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class TenantMiddleware:
    def __init__(self, app: ASGIApp, *, settings: TenancySettings) -> None:
        self.app = app
        self.settings = settings
        self.resolver = TenantResolver(settings.cache_ttl_seconds)
        self.exempt = tuple(path.rstrip("/") for path in settings.exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._is_exempt(scope):
            await self.app(scope, receive, send)
            return
        principal = scope.get("state", {}).get("principal")
        if isinstance(principal, Principal) and principal.tenant_id is None:
            # Signed in, but to no tenant: no header fallback (that would let any account pick
            # any tenant). Tenant data then fails closed for this request.
            await self.app(scope, receive, send)
            return
        try:
            tenant = await self._resolve(scope)
        except Exception as error:
            response = self._refusal(scope, error)
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION})
                return
            await response(scope, receive, send)
            return
        with tenant_scope(str(tenant.id)):
            await self.app(scope, receive, send)

    @staticmethod
    def _refusal(scope: Scope, error: Exception) -> Response:
        if isinstance(error, TenantError):
            return problem_response(scope["path"], error.status, error.detail)
        if is_database_outage(error):
            # The tenant cannot be checked: the same 503 the routes answer meanwhile.
            logger.warning("database_unavailable", error=type(error).__name__)
            return database_unavailable_response(scope["path"])
        raise error

    def _is_exempt(self, scope: Scope) -> bool:
        path: str = scope["path"]
        if path.endswith(DOCS_SUFFIXES) or is_exempt_from_tenant_resolution(scope):
            return True
        return any(path == prefix or path.startswith(f"{prefix}/") for prefix in self.exempt)

    async def _resolve(self, scope: Scope) -> KnownTenant:
        sessionmaker = scope["state"]["sessionmaker"]
        principal = scope.get("state", {}).get("principal")
        if isinstance(principal, Principal) and principal.tenant_id is not None:
            # The verified token names the tenant; whatever a header says is ignored.
            tenant = await self.resolver.by_id(sessionmaker, _parse_id(principal.tenant_id))
        elif self.settings.source == "subdomain":
            tenant = await self.resolver.by_slug(sessionmaker, self._subdomain(scope))
        else:
            value = Headers(scope=scope).get(self.settings.header, "").strip()
            if not value:
                raise TenantError(400, f"This request needs a tenant: send {self.settings.header}.")
            tenant = await self.resolver.by_id(sessionmaker, _parse_id(value))
        if tenant is None or not tenant.active:
            # One answer for unknown and inactive: it does not tell which tenants exist.
            raise TenantError(403, "The tenant does not exist or is not active.")
        return tenant

    def _subdomain(self, scope: Scope) -> str:
        host = Headers(scope=scope).get("host", "").split(":", 1)[0].lower().rstrip(".")
        suffix = f".{self.settings.base_domain}"
        label = host.removesuffix(suffix) if host.endswith(suffix) else ""
        if not label or "." in label:
            raise TenantError(400, f"This request needs a tenant: use <tenant>{suffix}.")
        return label


def _parse_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise TenantError(400, "The tenant id must be a UUID.") from None
