"""The per-request check, attached once to the API router so every nested route has it."""

import ipaddress
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import AppError, error_responses
from app.core.principal import current_principal
from app.core.tenant import current_tenant_id
from app.ratelimit.headers import rate_limit_headers
from app.ratelimit.limiter import Limiter, StorageUnavailableError

# Where the check leaves the headers for RateLimitHeadersMiddleware: a list shared by
# reference, so it survives the scope copies routing makes.
HEADERS_SCOPE_KEY = "app.ratelimit.headers"
# IPv6 clients usually hold a whole /64; keying on single addresses would let them rotate.
IPV6_PREFIX = 64


class RateLimitedError(AppError):
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many requests; retry after the time in Retry-After.")
        self.headers = {"Retry-After": str(retry_after)}


class RateLimitUnavailableError(AppError):
    status_code = 503

    def __init__(self, retry_after: int) -> None:
        super().__init__("The rate limiter is unavailable; retry after the time in Retry-After.")
        self.headers = {"Retry-After": str(retry_after)}


def client_key(request: Request) -> str:
    """The identity a limit counts: the authenticated subject, else the client address.

    `request.client` has already been resolved by ProxyHeadersMiddleware from
    X-Forwarded-For only when the peer is in FORWARDED_ALLOW_IPS; headers sent by anyone
    else never reach this point, so a client cannot pick its own key.
    """
    principal = current_principal(request)
    if principal is not None:
        return f"user:{principal.subject}"
    if request.client is None:
        # A Unix socket without a trusted proxy header: all such callers share one bucket.
        return "ip:unknown"
    host = request.client.host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"ip:{host}"
    if address.version == 6:
        return f"ip:{ipaddress.ip_network((address, IPV6_PREFIX), strict=False)}"
    return f"ip:{address}"


def _route_name(request: Request) -> str:
    route = request.scope.get("route")
    name = getattr(route, "name", None)
    return name if isinstance(name, str) and name else request.url.path


async def enforce_rate_limit(request: Request) -> None:
    """Count this request against its route's policy (and its tenant's quota); 429 if over."""
    limiter: Limiter | None = getattr(request.state, "rate_limiter", None)
    if limiter is None:
        raise RuntimeError("the rate limiter is not running: start the app with its lifespan")
    if not limiter.settings.enabled:
        return
    principal = current_principal(request)
    exempt = frozenset(limiter.settings.exempt_roles)
    if principal is not None and principal.has_any_role(exempt):
        return
    checks = [(limiter.policies.for_route(_route_name(request)), client_key(request))]
    tenant_quota = limiter.policies.tenant
    # The principal's tenant, else the one multi-tenancy resolved (a gateway header, say).
    tenant_id = (principal.tenant_id if principal else None) or current_tenant_id()
    if tenant_quota is not None and tenant_id is not None:
        checks.append((tenant_quota, f"tenant:{tenant_id}"))
    try:
        # One storage round trip for every policy; a refusal spends no later policy's quota.
        decisions = await limiter.hit(checks)
    except StorageUnavailableError:
        if any(policy.fail_closed for policy, _key in checks):
            raise RateLimitUnavailableError(limiter.settings.unavailable_retry_after) from None
        return  # fail open: availability of ordinary routes beats limiting them
    headers = request.scope.get(HEADERS_SCOPE_KEY)
    if isinstance(headers, list):
        headers.extend(rate_limit_headers(decisions))
    refused = [decision for decision in decisions if not decision.allowed]
    if refused:
        raise RateLimitedError(max(1, refused[0].reset_after))


RATE_LIMIT_RESPONSES: dict[int | str, dict[str, Any]] = error_responses(429)
# Strict routes also answer 503 while the storage is down: add these to their `responses=`.
STRICT_RATE_LIMIT_RESPONSES: dict[int | str, dict[str, Any]] = error_responses(429, 503)


def limit_every_route(router: APIRouter) -> None:
    """Put every route of `router`, including routers included into it later, under limits.

    Call it before the first include_router: FastAPI hands a router's dependencies and
    responses to what it includes at that moment.
    """
    if router.routes:
        raise RuntimeError("limit_every_route() must run before routes are added")
    router.dependencies.append(Depends(enforce_rate_limit))
    router.responses.update(RATE_LIMIT_RESPONSES)


class RateLimitHeadersMiddleware:
    """Adds the headers of the check to the response, whatever produced the response.

    A dependency cannot do that itself for responses a route returns directly (304) or
    that an error handler builds (404, 422, 429).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        collected: list[tuple[str, str]] = []
        scope[HEADERS_SCOPE_KEY] = collected

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and collected:
                message["headers"] = [
                    *message.get("headers", []),
                    *(
                        (name.encode("latin-1"), value.encode("latin-1"))
                        for name, value in collected
                    ),
                ]
            await send(message)

        await self.app(scope, receive, add_headers)
