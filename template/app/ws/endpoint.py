"""The /ws endpoint: every check happens before the handshake is accepted.

A refused handshake is closed before `accept()`, which servers answer with HTTP 403, so a
refused client never gets a socket to send anything on. Refusals close with 1008 (policy
violation); during shutdown new handshakes get 1012 (service restart).
"""

from urllib.parse import urlsplit

import structlog
from starlette.websockets import WebSocket

from app.core.principal import Principal, current_principal
from app.core.tenant import current_tenant_id, tenant_scope
from app.ws.connection import Connection
from app.ws.hub import POLICY_VIOLATION, SERVICE_RESTART, Hub
from app.ws.tickets import Grant

logger = structlog.get_logger(__name__)


def hub_of(websocket: WebSocket) -> Hub:
    hub = getattr(websocket.state, "websockets", None)
    if not isinstance(hub, Hub):
        raise RuntimeError("the WebSocket hub is not running: start the app's lifespan")
    return hub


def origin_allowed(websocket: WebSocket, allowed: list[str]) -> bool:
    """Allow no Origin (not a browser), a listed one, or the page's own host."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if origin in allowed:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == websocket.headers.get("host")


async def websocket_endpoint(websocket: WebSocket) -> None:
    hub = hub_of(websocket)
    if hub.closing:
        await websocket.close(SERVICE_RESTART, "server restarting")
        return
    if not origin_allowed(websocket, hub.settings.allowed_origins):
        logger.warning("ws_origin_refused", origin=websocket.headers.get("origin"))
        await websocket.close(POLICY_VIOLATION, "origin not allowed")
        return
    grant = await _grant(websocket, hub)
    if grant is None:
        await websocket.close(POLICY_VIOLATION, "invalid or expired ticket")
        return
    if grant.principal is None and hub.require_authentication:
        await websocket.close(POLICY_VIOLATION, "authentication required")
        return
    client_key = _client_key(websocket, grant.principal)
    if not hub.admit(client_key):
        logger.warning("ws_connection_cap_reached", client=client_key)
        await websocket.close(POLICY_VIOLATION, "too many connections")
        return
    try:
        await websocket.accept()
        connection = Connection(websocket, hub, grant.principal, grant.tenant_id)
        if grant.tenant_id is None:
            await connection.serve()
        else:
            # The whole life of the connection runs as its tenant (log lines included).
            with tenant_scope(grant.tenant_id):
                await connection.serve()
    finally:
        hub.release(client_key)


async def _grant(websocket: WebSocket, hub: Hub) -> Grant | None:
    """Who connects: from a `?ticket=` if given (None when it is not valid), else from the
    principal an authentication layer put on the handshake (None there means anonymous)."""
    handshake_tenant = current_tenant_id()
    ticket = websocket.query_params.get("ticket")
    if ticket is None:
        principal = current_principal(websocket)
        # /ws is exempt from tenant resolution; a verified principal still names its tenant.
        if handshake_tenant is None and principal is not None:
            handshake_tenant = principal.tenant_id
        return Grant(principal, handshake_tenant)
    grant = await hub.tickets.redeem(ticket)
    if grant is None:
        logger.warning("ws_ticket_refused")
        return None
    # A ticket issued in one tenant opens no door in another.
    if handshake_tenant is not None and grant.tenant_id != handshake_tenant:
        logger.warning("ws_ticket_wrong_tenant")
        return None
    return grant


def _client_key(websocket: WebSocket, principal: Principal | None) -> str:
    if principal is not None:
        return f"user:{principal.subject}"
    client = websocket.client
    return f"ip:{client.host if client else 'unknown'}"
