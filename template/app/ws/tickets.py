"""Single-use handshake tickets: how a browser authenticates a WebSocket.

Browsers cannot set an Authorization header on a WebSocket, and a token in the URL would
sit in proxy and server logs for its whole lifetime. Instead the page asks
POST /api/ws/tickets (authenticated like any API call) for a ticket and opens
`/ws?ticket=...` within seconds. The ticket is random, valid once and briefly, and stored
only as its SHA-256, so neither the store nor a log holds anything that can be replayed.
"""

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Protocol

from redis.asyncio import Redis

from app.core.principal import Credential, Principal


@dataclass(frozen=True, slots=True)
class Grant:
    """What a ticket stands for: a principal (None: anonymous) and the tenant it was issued in."""

    principal: Principal | None
    tenant_id: str | None

    def dumps(self) -> str:
        principal = self.principal
        return json.dumps(
            {
                "principal": None
                if principal is None
                else {
                    "subject": principal.subject,
                    "roles": sorted(principal.roles),
                    "tenant_id": principal.tenant_id,
                    # Kept so that revalidation can tell when the sign-in is revoked.
                    "credential": None
                    if principal.credential is None
                    else asdict(principal.credential),
                },
                "tenant_id": self.tenant_id,
            }
        )

    @classmethod
    def loads(cls, raw: str | bytes) -> "Grant":
        data = json.loads(raw)
        principal = data["principal"]
        if principal is None:
            return cls(principal=None, tenant_id=data["tenant_id"])
        credential = principal.get("credential")
        return cls(
            principal=Principal(
                subject=principal["subject"],
                roles=frozenset(principal["roles"]),
                tenant_id=principal["tenant_id"],
                credential=None if credential is None else Credential(**credential),
            ),
            tenant_id=data["tenant_id"],
        )


def fingerprint(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


class TicketStore(Protocol):
    async def issue(self, grant: Grant) -> str: ...
    async def redeem(self, ticket: str) -> Grant | None: ...


class LocalTicketStore:
    def __init__(self, ttl_seconds: int) -> None:
        self._ttl = ttl_seconds
        self._grants: dict[str, tuple[float, str]] = {}

    async def issue(self, grant: Grant) -> str:
        now = time.monotonic()
        # Expired, never-used tickets would otherwise pile up.
        self._grants = {key: entry for key, entry in self._grants.items() if entry[0] > now}
        ticket = secrets.token_urlsafe(32)
        self._grants[fingerprint(ticket)] = (now + self._ttl, grant.dumps())
        return ticket

    async def redeem(self, ticket: str) -> Grant | None:
        entry = self._grants.pop(fingerprint(ticket), None)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return Grant.loads(entry[1])


class RedisTicketStore:
    def __init__(self, redis: Redis, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds

    def _key(self, ticket: str) -> str:
        return f"{self._prefix}:ticket:{fingerprint(ticket)}"

    async def issue(self, grant: Grant) -> str:
        ticket = secrets.token_urlsafe(32)
        await self._redis.set(self._key(ticket), grant.dumps(), ex=self._ttl)
        return ticket

    async def redeem(self, ticket: str) -> Grant | None:
        # GETDEL: read and delete in one step, so two handshakes cannot both use a ticket.
        raw: bytes | str | None = await self._redis.getdel(self._key(ticket))
        return None if raw is None else Grant.loads(raw)
