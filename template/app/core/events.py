"""Domain events: what happened, told after the commit to whoever listens in this process.

The items router publishes `item.created`, `item.updated` and `item.deleted` once the write is
committed. A feature that wants them (WebSocket fan-out, a task trigger) subscribes when the
app is built and never imports the publisher; with no listener, publishing costs nothing.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from starlette.requests import HTTPConnection

logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """`type` such as "item.created"; `payload` is JSON-ready; owner and tenant scope it."""

    type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    owner_id: str | None = None
    tenant_id: str | None = None


Listener = Callable[[DomainEvent], Awaitable[None]]


class DomainEvents:
    """The listeners of one app. Each app has its own, so test apps stay apart."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def publish(self, event: DomainEvent) -> None:
        for listener in self._listeners:
            try:
                await listener(event)
            except Exception:
                # The write is committed already; a failing listener must not turn it into
                # an error response, and must not keep the others from hearing about it.
                logger.exception("domain_event_listener_failed", event_type=event.type)


def domain_events(connection: HTTPConnection) -> DomainEvents:
    """The event hub of the app serving this request.

    `create_app` sets it up; an app assembled by hand (a test, a recipe) gets an empty one on
    first use, so routers work there too and simply have no listeners.
    """
    state = connection.app.state
    events = getattr(state, "domain_events", None)
    if events is None:
        events = state.domain_events = DomainEvents()
    if not isinstance(events, DomainEvents):
        raise TypeError(f"app.state.domain_events must be DomainEvents, not {type(events)!r}")
    return events
