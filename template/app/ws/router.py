"""HTTP routes of the WebSocket feature: handshake tickets (API) and the demo page (dev)."""

import secrets

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from app.core.errors import AppError, error_responses
from app.core.principal import current_principal
from app.core.tenant import current_tenant_id
from app.ws.demo import DEMO_PAGE
from app.ws.hub import Hub
from app.ws.tickets import Grant

router = APIRouter(prefix="/ws", tags=["websockets"])


class AuthenticationRequiredError(AppError):
    status_code = 401
    headers = {"WWW-Authenticate": "Bearer"}  # noqa: RUF012 - read-only class default


class Ticket(BaseModel):
    ticket: str
    expires_in: int


def _hub(request: Request) -> Hub:
    hub = getattr(request.state, "websockets", None)
    if not isinstance(hub, Hub):
        raise RuntimeError("the WebSocket hub is not running: start the app's lifespan")
    return hub


@router.post(
    "/tickets", status_code=201, response_model=Ticket, responses=error_responses(401, 422, 500)
)
async def create_websocket_ticket(request: Request, response: Response) -> Ticket:
    """A single-use ticket for opening /ws?ticket=..., valid for a few seconds.

    It carries the caller's identity (or none, for an anonymous caller) and tenant, so a
    browser, which cannot set headers on a WebSocket, connects as itself.
    """
    hub = _hub(request)
    principal = current_principal(request)
    if principal is None and hub.require_authentication:
        # The handshake would refuse an anonymous ticket; say so where it can be understood.
        raise AuthenticationRequiredError("Sign in to open a WebSocket.")
    grant = Grant(principal, current_tenant_id())
    ticket = await hub.tickets.issue(grant)
    response.headers["Cache-Control"] = "no-store"
    return Ticket(ticket=ticket, expires_in=hub.settings.ticket_ttl_seconds)


async def demo_page() -> HTMLResponse:
    """A page that connects, subscribes to item events and shows them (never in production)."""
    nonce = secrets.token_urlsafe(16)
    csp = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return HTMLResponse(
        DEMO_PAGE.replace("{nonce}", nonce), headers={"Content-Security-Policy": csp}
    )
