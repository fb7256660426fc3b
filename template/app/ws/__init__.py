"""Real-time channels over WebSockets (the `websockets` feature).

Wiring, done by the template: `install_websockets(app, settings)` in app/main.py serves the
/ws endpoint (and, outside production, the /ws/demo page) and runs the hub for the app's
lifetime; the ticket router in app/api.py serves POST /api/ws/tickets with the other API
routes. The protocol is described in app/ws/protocol.py and in README.md (WebSockets).
"""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from redis.asyncio import Redis

from app.core.config import Settings
from app.core.events import DomainEvent
from app.core.tenant import exempt_from_tenant_resolution
from app.ws.broadcast import SOCKET_TIMEOUT_SECONDS, open_broadcast
from app.ws.config import WebSocketSettings
from app.ws.endpoint import websocket_endpoint
from app.ws.hub import SERVICE_RESTART, Hub, PrincipalCheck
from app.ws.logs import install_ticket_redaction
from app.ws.presence import LocalPresence, Presence, RedisPresence
from app.ws.router import demo_page
from app.ws.router import router as websocket_router
from app.ws.tickets import LocalTicketStore, RedisTicketStore, TicketStore

__all__ = [
    "Hub",
    "PrincipalCheck",
    "WebSocketSettings",
    "install_websockets",
    "use_websocket_settings",
    "websocket_router",
]

SETTINGS_ATTRIBUTE = "websocket_settings"
HUB_ATTRIBUTE = "websocket_hub"
# Presence entries outlive a missed heartbeat or two, not a dead process.
PRESENCE_TTL_INTERVALS = 3


def install_websockets(
    app: FastAPI, settings: Settings, websocket_settings: WebSocketSettings | None = None
) -> None:
    """Serve /ws (and /ws/demo outside production) and run the hub with the app.

    The endpoint is added to the app itself, not to the API router: a WebSocket protocol has
    no place under every HTTP API version, and router-wide HTTP dependencies (the rate
    limiter's) do not apply to a socket, which has its own limits.
    """
    use_websocket_settings(app, websocket_settings or WebSocketSettings())
    install_ticket_redaction()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        current: WebSocketSettings = getattr(app.state, SETTINGS_ATTRIBUTE)
        async with AsyncExitStack() as stack:
            hub = await stack.enter_async_context(_open_hub(current, settings.redis_url))
            hub.principal_check = getattr(app.state, "principal_check", None)
            setattr(app.state, HUB_ATTRIBUTE, hub)
            try:
                # Lifespan state: every request and WebSocket sees it as `.state.websockets`.
                yield {"websockets": hub}
            finally:
                # Tell clients to come back (to this or another instance) with backoff.
                await hub.close_all(SERVICE_RESTART, "server restarting")
                setattr(app.state, HUB_ATTRIBUTE, None)

    async def push_domain_event(event: DomainEvent) -> None:
        hub: Hub | None = getattr(app.state, HUB_ATTRIBUTE, None)
        if hub is not None:
            await hub.on_domain_event(event)

    # FastAPI merges the lifespan of an included router into the app's.
    app.include_router(APIRouter(lifespan=lifespan))
    app.add_api_websocket_route("/ws", websocket_endpoint, name="websocket")
    # The handshake's tenant comes from its ticket or principal (a browser cannot send a
    # tenant header on a WebSocket), so tenant resolution must not refuse it first.
    exempt_from_tenant_resolution(app, "/ws")
    if settings.environment != "production":
        app.add_api_route("/ws/demo", demo_page, include_in_schema=False)
    app.state.domain_events.subscribe(push_domain_event)


def use_websocket_settings(app: FastAPI, websocket_settings: WebSocketSettings) -> None:
    """Replace the WebSocket settings of an app that has not started yet."""
    setattr(app.state, SETTINGS_ATTRIBUTE, websocket_settings)


@asynccontextmanager
async def _open_hub(settings: WebSocketSettings, redis_url: str | None) -> AsyncIterator[Hub]:
    """A hub on Redis when REDIS_URL is set (shared by every process), else in memory."""
    presence: Presence
    tickets: TicketStore
    async with AsyncExitStack() as stack:
        if redis_url is None:
            presence, tickets = LocalPresence(), LocalTicketStore(settings.ticket_ttl_seconds)
        else:
            redis = Redis.from_url(
                redis_url,
                socket_timeout=SOCKET_TIMEOUT_SECONDS,
                socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
            )
            stack.push_async_callback(redis.aclose)
            ttl = settings.ping_interval * PRESENCE_TTL_INTERVALS
            presence = RedisPresence(redis, settings.key_prefix, ttl)
            tickets = RedisTicketStore(redis, settings.key_prefix, settings.ticket_ttl_seconds)
        hub = Hub(settings, presence, tickets)
        hub.broadcast = await stack.enter_async_context(
            open_broadcast(redis_url, settings.key_prefix, hub.deliver)
        )
        yield hub
