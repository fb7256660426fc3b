"""Loaded for every test while auth and multi-tenancy are both present (tests/conftest.py).

Shared tests sign in through auth's plugin (tokens without a tenant) and name their tenant
through tenancy's plugin (the tenant header). With memberships a header no longer counts for
a signed-in caller, so this joins the two: a request that carries both a valid access token
without `tid` and the tenant header has its token re-signed with that tenant as `tid`, every
other claim kept (so sign-out and revocation tests still see their token). Shared tests thus
run as a user whose token carries the test's tenant. Tests about tenant selection turn it off
with the `real_tokens` fixture (tests/memberships/conftest.py).
"""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx2
import jwt
import pytest
from starlette.types import Receive, Scope, Send

from app.auth.config import AuthSettings
from app.auth.tokens import InvalidTokenError, TokenCodec
from app.core.config import Settings
from app.tenancy.config import TenancySettings

HEADER = TenancySettings.model_fields["header"].default.lower()


class TokenTenants:
    def __init__(self) -> None:
        self.enabled = False
        self.codec: TokenCodec | None = None
        self.secret: str = ""

    def with_tenant(self, authorization: str, tenant: str) -> str | None:
        """The Authorization value re-signed for `tenant`, or None to leave it alone."""
        scheme, _, token = authorization.partition(" ")
        if not self.enabled or self.codec is None or scheme.lower() != "bearer":
            return None
        try:
            uuid.UUID(tenant)
            if self.codec.verify_access_token(token).tenant_id is not None:
                return None
        except (InvalidTokenError, ValueError):
            return None
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        return f"Bearer {jwt.encode(claims | {'tid': tenant}, self.secret, 'HS256')}"


token_tenants = TokenTenants()
_next_call: Any = None
_next_send: Any = None


async def _call(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] in ("http", "websocket"):
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        found = dict(headers)
        tenant, authorization = found.get(HEADER.encode()), found.get(b"authorization")
        if tenant is not None and authorization is not None:
            signed = token_tenants.with_tenant(
                authorization.decode("latin-1"), tenant.decode("latin-1")
            )
            if signed is not None:
                kept = [(name, value) for name, value in headers if name != b"authorization"]
                scope = {**scope, "headers": [*kept, (b"authorization", signed.encode())]}
    await _next_call(self, scope, receive, send)


async def _send(self: httpx2.AsyncClient, request: httpx2.Request, **kwargs: Any) -> Any:
    tenant, authorization = request.headers.get(HEADER), request.headers.get("authorization")
    if tenant is not None and authorization is not None:
        signed = token_tenants.with_tenant(authorization, tenant)
        if signed is not None:
            request.headers["authorization"] = signed
    return await _next_send(self, request, **kwargs)


@pytest.fixture(autouse=True)
def _tokens_carry_the_header_tenant(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    auth = AuthSettings()
    if auth.algorithm != "HS256":
        yield
        return
    token_tenants.codec = TokenCodec(auth, settings)
    token_tenants.secret = auth.hmac_secret(settings)
    token_tenants.enabled = True
    # Imported here, not at the top: pytest loads this plugin before tenancy's (alphabetical)
    # and must import that one itself to rewrite its asserts.
    from tests.tenancy import plugin as tenancy_plugin

    global _next_call, _next_send
    if _next_call is None:
        _next_call, _next_send = tenancy_plugin._original_call, tenancy_plugin._original_send
    # Inside tenancy's wrappers: they add the default tenant header first.
    monkeypatch.setattr(tenancy_plugin, "_original_call", _call)
    monkeypatch.setattr(tenancy_plugin, "_original_send", _send)
    try:
        yield
    finally:
        token_tenants.enabled = False
