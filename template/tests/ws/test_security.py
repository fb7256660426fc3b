"""Handshake checks and per-connection limits (security catalogue W01-W08, W10, W11)."""

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from app.core.config import Settings
from app.core.principal import Principal
from app.main import create_app
from app.ws import Hub, use_websocket_settings
from app.ws.tickets import Grant
from tests.ws.conftest import (
    PrincipalFromHeader,
    as_user,
    needs_stand_in_tenants,
    started,
    ws_settings,
)

EVIL = "https://evil.example"
APP_ORIGIN = "https://app.example.com"
POLICY_VIOLATION = 1008


def refused_code(client: TestClient, url: str = "/ws", **headers: str) -> int:
    """The close code of a handshake that must be refused before it is accepted."""
    session = client.websocket_connect(url, headers=headers)
    with pytest.raises(WebSocketDisconnect) as refused:
        session.__enter__()
    return refused.value.code


@contextmanager
def open_session(
    client: TestClient, url: str = "/ws", **headers: str
) -> Iterator[WebSocketTestSession]:
    with client.websocket_connect(url, headers=headers) as ws:
        assert ws.receive_json()["type"] == "welcome"
        yield ws


def closed_with(ws: WebSocketTestSession) -> int:
    """Read until the server closes; the close code."""
    try:
        while True:
            ws.receive_json()
    except WebSocketDisconnect as closed:
        return closed.code


def ticket(client: TestClient, headers: dict[str, str] | None = None) -> str:
    response = client.post("/api/ws/tickets", headers=headers or {})
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    value: str = response.json()["ticket"]
    return value


@pytest.fixture
def client(settings: Settings) -> Any:
    with started(settings, allowed_origins=[APP_ORIGIN]) as client:
        yield client


class TestOrigin:
    """W01: CORS does not cover WebSockets; the Origin allow-list does."""

    def test_a_foreign_origin_is_refused_before_accept(self, client: TestClient) -> None:
        assert refused_code(client, origin=EVIL, cookie="session=victim") == POLICY_VIOLATION

    def test_a_listed_origin_and_the_own_host_are_allowed(self, client: TestClient) -> None:
        with (
            open_session(client, origin=APP_ORIGIN),
            open_session(client, origin="http://testserver"),
        ):
            pass

    def test_a_client_without_origin_is_not_a_browser_and_is_allowed(
        self, client: TestClient
    ) -> None:
        with open_session(client):
            pass

    def test_a_wildcard_cannot_be_configured(self) -> None:
        with pytest.raises(ValueError, match="no wildcard"):
            ws_settings(allowed_origins="*")


class TestAuthentication:
    """W02: with WS_REQUIRE_AUTHENTICATION, only a principal or a valid ticket gets in."""

    def test_anonymous_handshakes_are_refused(self, settings: Settings) -> None:
        with started(settings, require_authentication=True) as client:
            assert refused_code(client) == POLICY_VIOLATION
            refused = client.post("/api/ws/tickets")
            assert refused.status_code == 401
            assert refused.headers["WWW-Authenticate"] == "Bearer"
            with open_session(client, **as_user("alice")):
                pass

    def test_a_ticket_carries_the_user_and_works_once(self, settings: Settings) -> None:
        with started(settings, require_authentication=True) as client:
            value = ticket(client, as_user("alice"))
            # The handshake itself has no credentials, as in a browser.
            with client.websocket_connect(f"/ws?ticket={value}") as ws:
                assert ws.receive_json()["user"] == "alice"
            assert refused_code(client, f"/ws?ticket={value}") == POLICY_VIOLATION

    def test_an_anonymous_ticket_is_refused_when_authentication_becomes_required(
        self, settings: Settings
    ) -> None:
        """A ticket issued before the setting changed (in Redis, say) opens no door."""
        with started(settings, require_authentication=True) as client:
            assert client.portal is not None
            hub: Hub = client.app.state.websocket_hub  # type: ignore[attr-defined]
            anonymous_ticket = client.portal.call(hub.tickets.issue, Grant(None, None))
            assert refused_code(client, f"/ws?ticket={anonymous_ticket}") == POLICY_VIOLATION

    def test_unknown_and_expired_tickets_are_refused(self, settings: Settings) -> None:
        with started(settings, ticket_ttl_seconds=1) as client:
            assert refused_code(client, "/ws?ticket=made-up") == POLICY_VIOLATION
            value = ticket(client)
            time.sleep(1.2)
            assert refused_code(client, f"/ws?ticket={value}") == POLICY_VIOLATION

    @needs_stand_in_tenants
    def test_a_ticket_is_not_valid_in_another_tenant(self, settings: Settings) -> None:
        with started(settings) as client:
            value = ticket(client, as_user("alice", tenant="t1"))
            headers = {"x-test-tenant": "t2"}
            assert refused_code(client, f"/ws?ticket={value}", **headers) == POLICY_VIOLATION


class TestMessageLevelAuthorization:
    """W04: another user's or tenant's channel is refused with an error frame."""

    def test_another_users_items_channel_is_forbidden(self, client: TestClient) -> None:
        with open_session(client, **as_user("alice")) as ws:
            ws.send_json({"type": "subscribe", "channel": "items:user:bob", "ref": "x"})
            assert ws.receive_json() == {
                "type": "error",
                "code": "forbidden",
                "detail": "only its owner may follow a user's items",
                "ref": "x",
            }

    def test_another_tenants_channel_is_forbidden(self, client: TestClient) -> None:
        with open_session(client, **as_user("alice", tenant="t1")) as ws:
            ws.send_json({"type": "subscribe", "channel": "tenant:t2:room:lobby"})
            assert ws.receive_json()["code"] == "forbidden"
            ws.send_json({"type": "subscribe", "channel": "tenant:t1:room:lobby"})
            assert ws.receive_json()["type"] in ("join", "subscribed")

    def test_tenants_rooms_of_one_name_are_apart(self, client: TestClient) -> None:
        with (
            open_session(client, **as_user("alice", tenant="t1")) as t1,
            open_session(client, **as_user("bob", tenant="t2")) as t2,
        ):
            for ws in (t1, t2):
                ws.send_json({"type": "subscribe", "channel": "room:lobby"})
                assert {ws.receive_json()["type"] for _ in range(2)} == {"join", "subscribed"}
            for ws, text in ((t1, "t1 only"), (t2, "t2 only")):
                ws.send_json({"type": "publish", "channel": "room:lobby", "data": text})
                received = {m["type"]: m for m in (ws.receive_json(), ws.receive_json())}
                assert received.keys() == {"message", "published"}
                # For t2: its own message is the first it sees, so t1's never reached it.
                assert received["message"]["data"] == text

    def test_clients_cannot_publish_to_item_channels(self, client: TestClient) -> None:
        with open_session(client) as ws:
            ws.send_json({"type": "publish", "channel": "items", "data": {"forged": True}})
            assert ws.receive_json()["code"] == "forbidden"


class TestInvalidInput:
    """W06: garbage gets an error frame and the connection keeps working."""

    @pytest.mark.parametrize(
        "text",
        [
            "not json",
            "[]",
            '{"type": "launch"}',
            '{"type": "subscribe"}',
            '{"type": "subscribe", "channel": 7}',
            '{"type": "ping", "extra": 1}',
            "[" * 5000 + "]" * 5000,
            '{"type": "publish", "channel": "room:a", "data": ' + "[" * 5000 + "]" * 5000 + "}",
        ],
    )
    def test_error_frame_and_still_alive(self, client: TestClient, text: str) -> None:
        with open_session(client) as ws:
            ws.send_text(text)
            assert ws.receive_json()["code"] == "invalid_message"
            ws.send_json({"type": "ping"})
            assert ws.receive_json() == {"type": "pong"}

    def test_unknown_channel_names(self, client: TestClient) -> None:
        with open_session(client) as ws:
            ws.send_json({"type": "subscribe", "channel": "room:../../etc"})
            assert ws.receive_json()["code"] == "invalid_channel"

    def test_binary_frames_are_refused(self, client: TestClient) -> None:
        with open_session(client) as ws:
            ws.send_bytes(b"\x00\x01")
            assert ws.receive_json()["code"] == "unsupported_frame"


class TestLimits:
    def test_a_message_over_the_size_limit_closes_with_1009(self, settings: Settings) -> None:
        """W05."""
        with started(settings, max_message_bytes=1024) as client, open_session(client) as ws:
            ws.send_text(json.dumps({"type": "publish", "channel": "room:a", "data": "x" * 2000}))
            assert closed_with(ws) == 1009

    def test_a_flood_closes_with_1008(self, settings: Settings) -> None:
        """W07: beyond the burst, at a rate no client needs."""
        with (
            started(settings, messages_per_second=1, message_burst=5) as client,
            open_session(client) as ws,
        ):
            for _ in range(20):
                ws.send_json({"type": "ping"})
            assert closed_with(ws) == POLICY_VIOLATION

    def test_connections_per_user_are_capped(self, settings: Settings) -> None:
        """W08: N per user (or per address when anonymous), the N+1st refused."""
        with started(settings, max_connections_per_client=2) as client, ExitStack() as stack:
            for _ in range(2):
                stack.enter_context(open_session(client, **as_user("alice")))
            assert refused_code(client, **as_user("alice")) == POLICY_VIOLATION
            with open_session(client, **as_user("bob")):
                pass

    def test_subscriptions_per_connection_are_capped(self, settings: Settings) -> None:
        with started(settings, max_subscriptions=1) as client, open_session(client) as ws:
            ws.send_json({"type": "subscribe", "channel": "room:a"})
            assert {ws.receive_json()["type"] for _ in range(2)} == {"join", "subscribed"}
            ws.send_json({"type": "subscribe", "channel": "room:b"})
            assert ws.receive_json()["code"] == "too_many_subscriptions"

    def test_a_silent_client_is_closed_after_the_idle_timeout(self, settings: Settings) -> None:
        """W10: the server pings; a peer that never answers is closed (1001)."""
        with (
            started(settings, ping_interval=0.1, idle_timeout=0.5) as client,
            open_session(client) as ws,
        ):
            assert closed_with(ws) == 1001


class TestRevalidation:
    """W11: a principal that is no longer valid is disconnected while connected."""

    def test_a_revoked_principal_is_closed_with_1008(self, settings: Settings) -> None:
        revoked: set[str] = set()

        async def principal_check(principal: Principal, _state: Mapping[str, Any]) -> bool:
            return principal.subject not in revoked

        app: FastAPI = create_app(settings)
        use_websocket_settings(app, ws_settings(ping_interval=0.05, revalidate_interval=0.05))
        app.add_middleware(PrincipalFromHeader)
        app.state.principal_check = principal_check
        with TestClient(app) as client, open_session(client, **as_user("alice")) as ws:
            ws.send_json({"type": "ping"})
            while ws.receive_json()["type"] != "pong":
                pass
            revoked.add("alice")
            assert closed_with(ws) == POLICY_VIOLATION
