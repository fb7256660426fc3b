"""WebSockets with the auth feature installed: the real authentication layer, not a stand-in.

Auth publishes `app.state.principal_check`, so an unset WS_REQUIRE_AUTHENTICATION means
"required": anonymous handshakes and tickets are refused, a signed-in user's ticket opens
/ws, and a user deactivated meanwhile is disconnected at the next revalidation (W02, W11).
Accounts come from the shared credential providers, so this module never imports app.auth.
"""

import asyncio
import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from app.ws import use_websocket_settings
from app.ws.hub import POLICY_VIOLATION
from tests.conftest import credentials
from tests.ws.conftest import ws_settings
from tests.ws.test_security import closed_with, open_session, refused_code

if importlib.util.find_spec("app.auth") is None:
    pytest.skip("the auth feature is not part of this project", allow_module_level=True)

TICKETS = "/api/ws/tickets"


def signed_in(settings: Settings, role: str = "user") -> dict[str, str]:
    return asyncio.run(credentials(settings, role))


def started_with_defaults(settings: Settings, **overrides: Any) -> TestClient:
    """The app as create_app builds it: WS_REQUIRE_AUTHENTICATION left unset."""
    app: FastAPI = create_app(settings)
    use_websocket_settings(app, ws_settings(**overrides))
    return TestClient(app)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with started_with_defaults(settings) as client:
        yield client


def test_anonymous_handshakes_and_tickets_are_refused(client: TestClient) -> None:
    assert refused_code(client) == POLICY_VIOLATION
    refused = client.post(TICKETS)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"


def test_a_signed_in_users_ticket_connects_as_that_user(
    client: TestClient, settings: Settings
) -> None:
    headers = signed_in(settings)
    me = client.get("/api/users/me", headers=headers)
    assert me.status_code == 200
    response = client.post(TICKETS, headers=headers)
    assert response.status_code == 201, response.text
    # Like a browser: the handshake carries the ticket and no Authorization header.
    with client.websocket_connect(f"/ws?ticket={response.json()['ticket']}") as ws:
        welcome = ws.receive_json()
    assert welcome["type"] == "welcome"
    assert welcome["user"] == me.json()["id"]


def test_a_bearer_token_on_the_handshake_connects_too(
    client: TestClient, settings: Settings
) -> None:
    with open_session(client, **signed_in(settings)):
        pass


def test_a_deactivated_user_is_disconnected_on_revalidation(settings: Settings) -> None:
    user, admin = signed_in(settings), signed_in(settings, "admin")
    with started_with_defaults(settings, ping_interval=0.05, revalidate_interval=0.05) as client:
        user_id = client.get("/api/users/me", headers=user).json()["id"]
        with open_session(client, **user) as ws:
            ws.send_json({"type": "ping"})
            while ws.receive_json()["type"] != "pong":
                pass
            deactivated = client.patch(
                f"/api/users/{user_id}", json={"is_active": False}, headers=admin
            )
            assert deactivated.status_code == 200, deactivated.text
            assert closed_with(ws) == POLICY_VIOLATION
