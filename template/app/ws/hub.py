"""The per-process hub: live connections, their subscriptions, and the shared backends."""

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import structlog
from redis.exceptions import RedisError

from app.core.events import DomainEvent
from app.core.principal import Principal
from app.ws.broadcast import Broadcast
from app.ws.channels import Channel, channels_for_event
from app.ws.config import WebSocketSettings
from app.ws.presence import Presence
from app.ws.protocol import frame
from app.ws.tickets import TicketStore

if TYPE_CHECKING:
    from app.ws.connection import Connection

logger = structlog.get_logger(__name__)

PrincipalCheck = Callable[[Principal, Mapping[str, Any]], Awaitable[bool]]
"""Whether a principal may still act (user active, session not revoked), given the
connection's lifespan state (its `sessionmaker` and `redis`, to look that up with).

An authentication layer that can tell sets one on `app.state.principal_check`; open
connections then ask it every WS_REVALIDATE_INTERVAL seconds and close with 1008 on False.
Its presence is also how WS_REQUIRE_AUTHENTICATION (unset) knows that users can sign in.
"""

# Close codes (RFC 6455 and the IANA registry).
GOING_AWAY = 1001
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
SERVICE_RESTART = 1012
TRY_AGAIN_LATER = 1013

SHUTDOWN_GRACE_SECONDS = 5.0


class Hub:
    def __init__(
        self,
        settings: WebSocketSettings,
        presence: Presence,
        tickets: TicketStore,
        principal_check: PrincipalCheck | None = None,
    ) -> None:
        self.settings = settings
        self.presence = presence
        self.tickets = tickets
        self.principal_check = principal_check
        self.broadcast: Broadcast | None = None
        self.closing = False
        self._connections: dict[str, Connection] = {}
        self._subscribers: dict[str, set[Connection]] = {}
        self._per_client: Counter[str] = Counter()

    @property
    def require_authentication(self) -> bool:
        """WS_REQUIRE_AUTHENTICATION, or when unset: whether an authentication layer is there."""
        if self.settings.require_authentication is None:
            return self.principal_check is not None
        return self.settings.require_authentication

    # Connections ---------------------------------------------------------------------

    def admit(self, client_key: str) -> bool:
        """Count a new connection of this client, unless it already has the maximum."""
        if self._per_client[client_key] >= self.settings.max_connections_per_client:
            return False
        self._per_client[client_key] += 1
        return True

    def release(self, client_key: str) -> None:
        self._per_client[client_key] -= 1
        if self._per_client[client_key] <= 0:
            del self._per_client[client_key]

    def register(self, connection: "Connection") -> None:
        self._connections[connection.id] = connection

    def unregister(self, connection: "Connection") -> None:
        self._connections.pop(connection.id, None)

    async def close_all(self, code: int, reason: str) -> None:
        """Refuse new handshakes and close every open connection, waiting briefly for them."""
        self.closing = True
        connections = list(self._connections.values())
        for connection in connections:
            connection.close(code, reason)
        if not connections:
            return
        waiters = [asyncio.ensure_future(c.finished.wait()) for c in connections]
        _, pending = await asyncio.wait(waiters, timeout=SHUTDOWN_GRACE_SECONDS)
        for waiter in pending:
            waiter.cancel()

    # Subscriptions -------------------------------------------------------------------

    def subscribe(self, connection: "Connection", channel: Channel) -> None:
        self._subscribers.setdefault(channel.key, set()).add(connection)

    def unsubscribe(self, connection: "Connection", channel: Channel) -> None:
        subscribers = self._subscribers.get(channel.key)
        if subscribers is None:
            return
        subscribers.discard(connection)
        if not subscribers:
            del self._subscribers[channel.key]

    def deliver(self, key: str, text: str) -> None:
        """Queue a serialized frame for this process's subscribers of `key` (never blocks)."""
        for connection in list(self._subscribers.get(key, ())):
            connection.enqueue(text)

    async def publish(self, channel: Channel, message: dict[str, Any]) -> None:
        """Send a frame to the subscribers of `channel` in every process."""
        if self.broadcast is None:
            raise RuntimeError("the WebSocket hub is not started")
        await self.broadcast.publish(channel.key, json.dumps(message))

    async def on_domain_event(self, event: DomainEvent) -> None:
        """Push an item event to the channels allowed to see it (see app.ws.channels)."""
        if not event.type.startswith("item."):
            return  # other domain events (user.registered, ...) are not for channels
        for channel in channels_for_event(event):
            message = frame("event", channel=channel.name, event=event.type, data=event.payload)
            try:
                await self.publish(channel, message)
            except RedisError as error:
                # The write is committed; a lost live notification is the lesser evil.
                logger.warning("ws_event_not_broadcast", event_type=event.type, error=str(error))
