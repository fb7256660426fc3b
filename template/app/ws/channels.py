"""Channel names, who may use them, and which channels a domain event reaches.

Names a client uses:
    room:<name>          anyone may subscribe and publish (a chat room, a document)
    items                item events: public ones, or the tenant's own under multi-tenancy
    items:user:<id>      events of items owned by user <id>; only that user may subscribe

Every channel lives in the scope of the connection's tenant (`current_tenant_id()` at the
handshake): two tenants' `room:lobby` are different channels. A client may spell the scope
out as `tenant:<id>:room:lobby`; naming a tenant other than its own is refused.
"""

import re
from dataclasses import dataclass

from app.core.events import DomainEvent
from app.core.principal import Principal
from app.ws.protocol import ErrorCode

NAME = re.compile(
    r"(?:tenant:(?P<tenant>[A-Za-z0-9_.-]{1,64}):)?"
    r"(?P<name>room:[A-Za-z0-9_.-]{1,64}|items|items:user:(?P<owner>[A-Za-z0-9_.@-]{1,128}))"
)
ITEMS = "items"
USER_ITEMS = "items:user:"
ROOM = "room:"


class ChannelError(Exception):
    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Channel:
    """A channel as one connection sees it: `name` for the client, `key` across processes."""

    name: str
    tenant_id: str | None

    @property
    def key(self) -> str:
        # The name never contains "|", so the key splits back unambiguously on the last one.
        return f"{self.tenant_id or ''}|{self.name}"

    @property
    def publishable(self) -> bool:
        """Clients publish to rooms only; item channels carry what the server saw happen."""
        return self.name.startswith(ROOM)


def resolve(raw: str, principal: Principal | None, tenant_id: str | None) -> Channel:
    """The channel `raw` names for this connection, or ChannelError if it may not use it."""
    match = NAME.fullmatch(raw)
    if match is None:
        raise ChannelError(
            "invalid_channel", "channels are room:<name>, items or items:user:<user id>"
        )
    named_tenant = match.group("tenant")
    if named_tenant is not None and named_tenant != tenant_id:
        raise ChannelError("forbidden", "that channel belongs to another tenant")
    owner = match.group("owner")
    if owner is not None and (principal is None or principal.subject != owner):
        raise ChannelError("forbidden", "only its owner may follow a user's items")
    return Channel(match.group("name"), tenant_id)


def channels_for_event(event: DomainEvent) -> list[Channel]:
    """Where an item event goes: its owner's channel and/or its tenant's items channel; an
    event with neither owner nor tenant is public and goes to the unscoped `items`."""
    channels = []
    if event.owner_id is not None:
        channels.append(Channel(USER_ITEMS + event.owner_id, event.tenant_id))
    if event.tenant_id is not None or event.owner_id is None:
        channels.append(Channel(ITEMS, event.tenant_id))
    return channels
