"""Who is calling: the small contract between an authentication layer and everything else.

Whatever authenticates a request (the auth feature, a trusted gateway, a test) puts a
`Principal` on `request.state.principal`. Consumers such as the rate limiter read it through
`current_principal()` and never import the code that produced it, so each side works alone.
"""

from dataclasses import dataclass

from starlette.requests import HTTPConnection


@dataclass(frozen=True, slots=True)
class Credential:
    """What a caller signed in with, so that a connection outliving its request (a WebSocket)
    can ask later whether it was revoked: an id (a token's jti), when it was issued and the
    sign-in session it belongs to (auth: the refresh-token family), if any."""

    id: str
    issued_at: float
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a stable subject id, its roles and, with tenancy, its tenant."""

    subject: str
    roles: frozenset[str] = frozenset()
    tenant_id: str | None = None
    credential: Credential | None = None

    def has_any_role(self, roles: frozenset[str]) -> bool:
        return not self.roles.isdisjoint(roles)


def current_principal(connection: HTTPConnection) -> Principal | None:
    """The principal of this request or WebSocket, or None when the caller is anonymous."""
    principal = getattr(connection.state, "principal", None)
    if principal is None or isinstance(principal, Principal):
        return principal
    # A wrong type is a bug in whatever set it; treating it as anonymous would hide that.
    raise TypeError(f"request.state.principal must be a Principal, not {type(principal)!r}")
