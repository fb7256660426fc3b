"""WebSockets with the auth feature installed: the real authentication layer, not a stand-in.

Auth publishes `app.state.principal_check`, so an unset WS_REQUIRE_AUTHENTICATION means
"required": anonymous handshakes and tickets are refused, a signed-in user's ticket opens
/ws, and a user deactivated, signed out or otherwise revoked meanwhile is disconnected at the
next revalidation (W02, W11).
Accounts come from the shared credential providers, so this module never imports app.auth.
"""

import asyncio
import importlib.util
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from app.ws import use_websocket_settings
from app.ws.hub import POLICY_VIOLATION, TRY_AGAIN_LATER
from tests.conftest import credentials
from tests.outages import free_port
from tests.ws.conftest import ws_settings
from tests.ws.test_security import closed_with, open_session, refused_code

if importlib.util.find_spec("app.auth") is None:
    pytest.skip("the auth feature is not part of this project", allow_module_level=True)

TICKETS = "/api/ws/tickets"
PASSWORD = "a long and uncommon passphrase 42"


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


def test_signing_out_disconnects_on_revalidation(settings: Settings) -> None:
    user = signed_in(settings)
    app = started_with_defaults(settings, ping_interval=0.05, revalidate_interval=0.05)
    with app as client, open_session(client, **user) as ws:
        assert client.post("/api/auth/logout", headers=user).status_code == 204
        assert closed_with(ws) == POLICY_VIOLATION


def test_a_role_change_disconnects_on_revalidation(settings: Settings) -> None:
    # A role change refuses every token the user holds; the connection's included.
    user, admin = signed_in(settings), signed_in(settings, "admin")
    with started_with_defaults(settings, ping_interval=0.05, revalidate_interval=0.05) as client:
        user_id = client.get("/api/users/me", headers=user).json()["id"]
        with open_session(client, **user) as ws:
            changed = client.patch(
                f"/api/users/{user_id}", json={"roles": ["user", "admin"]}, headers=admin
            )
            assert changed.status_code == 200, changed.text
            assert closed_with(ws) == POLICY_VIOLATION


def test_a_revoked_sign_in_session_disconnects_on_revalidation(settings: Settings) -> None:
    """A refresh token used twice revokes its whole sign-in session (J19): the connections
    opened with that session's access tokens end too."""
    with started_with_defaults(settings, ping_interval=0.05, revalidate_interval=0.05) as client:
        email = f"{uuid.uuid4().hex[:12]}@example.com"
        registered = client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
        assert registered.status_code == 201, registered.text
        signed = client.post("/api/auth/token", data={"username": email, "password": PASSWORD})
        assert signed.status_code == 200, signed.text
        pair = signed.json()
        with open_session(client, Authorization=f"Bearer {pair['access_token']}") as ws:
            refresh = {"refresh_token": pair["refresh_token"]}
            assert client.post("/api/auth/refresh", json=refresh).status_code == 200
            assert client.post("/api/auth/refresh", json=refresh).status_code == 401
            assert closed_with(ws) == POLICY_VIOLATION


def test_a_token_that_cannot_be_checked_is_told_to_try_again_later(settings: Settings) -> None:
    """Revocations live in Redis; with Redis down the token can be neither trusted nor refused:
    the handshake is refused with 1013 (try again later), as HTTP answers 503."""
    headers = signed_in(settings)
    redis_down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with started_with_defaults(redis_down) as client:
        assert refused_code(client, **headers) == TRY_AGAIN_LATER
        unavailable = client.get("/api/items", headers=headers)
        assert unavailable.status_code == 503, unavailable.text
        assert unavailable.headers["retry-after"] == "5"
