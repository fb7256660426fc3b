"""The JSON protocol over an in-process TestClient: channels, presence, heartbeats, events.

With TEST_REDIS_URL every frame goes through Redis, so a reply to the sender may overtake a
broadcast; tests compare sets where order is not promised. To show that something did NOT
arrive, they send a marker through the same path afterwards: publications of one process
arrive in the order they were made, so the marker must be the next thing seen.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient, WebSocketTestSession

from app.core.config import Settings
from tests.ws.conftest import as_user, needs_stand_in_item_writes, started

ROOM = "room:lobby"
ITEM = {"name": "Lamp", "price": "12.50"}


def connect(client: TestClient, headers: dict[str, str] | None = None) -> WebSocketTestSession:
    return client.websocket_connect("/ws", headers=dict(headers or {}))


def welcome(ws: WebSocketTestSession) -> dict[str, Any]:
    message: dict[str, Any] = ws.receive_json()
    assert message["type"] == "welcome"
    return message


def next_frame(ws: WebSocketTestSession) -> dict[str, Any]:
    """The next frame other than a heartbeat."""
    while (message := ws.receive_json())["type"] == "ping":
        pass
    frame: dict[str, Any] = message
    return frame


def frames(ws: WebSocketTestSession, count: int) -> dict[str, dict[str, Any]]:
    """The next `count` frames by type, in whatever order they came."""
    received = [next_frame(ws) for _ in range(count)]
    return {message["type"]: message for message in received}


def subscribe(ws: WebSocketTestSession, channel: str) -> dict[str, Any]:
    """Subscribe; the `subscribed` reply (the connection's own join event is consumed too)."""
    ws.send_json({"type": "subscribe", "channel": channel, "ref": "s1"})
    received = frames(ws, 2)
    assert received.keys() == {"join", "subscribed"}
    return received["subscribed"]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with started(settings) as client:
        yield client


def test_welcome_names_the_connection_and_the_user(client: TestClient) -> None:
    with connect(client) as anonymous:
        assert welcome(anonymous)["user"] is None
    with connect(client, as_user("alice")) as alice:
        assert welcome(alice)["user"] == "alice"


def test_published_messages_reach_every_subscriber_with_the_sender(client: TestClient) -> None:
    with connect(client, as_user("alice")) as alice, connect(client, as_user("bob")) as bob:
        alice_id = welcome(alice)["connection_id"]
        welcome(bob)
        subscribe(alice, ROOM)
        subscribe(bob, ROOM)
        assert next_frame(alice)["type"] == "join"  # bob's

        alice.send_json({"type": "publish", "channel": ROOM, "data": {"text": "hi"}, "ref": "p1"})

        expected = {
            "type": "message",
            "channel": ROOM,
            "data": {"text": "hi"},
            "sender": {"id": alice_id, "user": "alice"},
        }
        assert next_frame(bob) == expected
        assert frames(alice, 2) == {
            "message": expected,
            "published": {"type": "published", "channel": ROOM, "ref": "p1"},
        }


def test_presence_lists_members_and_announces_joins_and_leaves(client: TestClient) -> None:
    with connect(client, as_user("alice")) as alice:
        alice_id = welcome(alice)["connection_id"]
        assert subscribe(alice, ROOM)["members"] == [{"id": alice_id, "user": "alice"}]
        with connect(client, as_user("bob")) as bob:
            bob_id = welcome(bob)["connection_id"]
            reply = subscribe(bob, ROOM)
            assert sorted(member["user"] for member in reply["members"]) == ["alice", "bob"]
            assert next_frame(alice) == {
                "type": "join",
                "channel": ROOM,
                "member": {"id": bob_id, "user": "bob"},
            }
            alice.send_json({"type": "presence", "channel": ROOM})
            presence = next_frame(alice)
            assert presence["type"] == "presence"
            assert len(presence["members"]) == 2
        assert next_frame(alice) == {
            "type": "leave",
            "channel": ROOM,
            "member": {"id": bob_id, "user": "bob"},
        }
        alice.send_json({"type": "presence", "channel": ROOM})
        assert [member["user"] for member in next_frame(alice)["members"]] == ["alice"]


def test_unsubscribed_connections_hear_nothing_more(client: TestClient) -> None:
    with connect(client) as listener, connect(client) as speaker:
        welcome(listener)
        welcome(speaker)
        subscribe(listener, ROOM)
        subscribe(listener, "room:marker")
        listener.send_json({"type": "unsubscribe", "channel": ROOM, "ref": "u1"})
        assert next_frame(listener) == {"type": "unsubscribed", "channel": ROOM, "ref": "u1"}

        for channel in (ROOM, "room:marker"):
            speaker.send_json({"type": "publish", "channel": channel, "data": channel})
            assert next_frame(speaker)["type"] == "published"
        assert next_frame(listener)["data"] == "room:marker"

        listener.send_json({"type": "unsubscribe", "channel": ROOM})
        assert next_frame(listener)["code"] == "not_subscribed"


def test_a_ping_gets_a_pong(client: TestClient) -> None:
    with connect(client) as ws:
        welcome(ws)
        ws.send_json({"type": "ping", "ref": "p"})
        assert next_frame(ws) == {"type": "pong", "ref": "p"}


@needs_stand_in_item_writes
def test_item_events_reach_the_public_items_channel(client: TestClient) -> None:
    with connect(client) as ws:
        welcome(ws)
        subscribe(ws, "items")
        created = client.post("/api/items", json=ITEM).json()
        assert next_frame(ws) == {
            "type": "event",
            "channel": "items",
            "event": "item.created",
            "data": created,
        }
        client.delete(f"/api/items/{created['id']}")
        assert next_frame(ws)["event"] == "item.deleted"


@needs_stand_in_item_writes
def test_an_owners_item_events_reach_only_the_owners_channel(client: TestClient) -> None:
    with connect(client, as_user("alice")) as alice, connect(client) as public:
        welcome(alice)
        welcome(public)
        subscribe(alice, "items:user:alice")
        subscribe(public, "items")

        owned = client.post("/api/items", json=ITEM, headers=as_user("alice")).json()
        anonymous = client.post("/api/items", json=ITEM).json()

        event = next_frame(alice)
        assert (event["channel"], event["data"]) == ("items:user:alice", owned)
        assert next_frame(public)["data"] == anonymous  # and not alice's


@needs_stand_in_item_writes
def test_a_tenants_item_events_reach_its_items_channel_only(client: TestClient) -> None:
    with (
        connect(client, as_user("alice", tenant="t1")) as t1,
        connect(client, as_user("bob", tenant="t2")) as t2,
    ):
        welcome(t1)
        welcome(t2)
        subscribe(t1, "items")
        subscribe(t2, "items")

        first = client.post("/api/items", json=ITEM, headers=as_user("carol", tenant="t1"))
        second = client.post("/api/items", json=ITEM, headers=as_user("dave", tenant="t2"))

        assert next_frame(t1)["data"] == first.json()
        assert next_frame(t2)["data"] == second.json()  # and not t1's


def test_the_server_pings_and_a_pong_keeps_the_connection(settings: Settings) -> None:
    with started(settings, ping_interval=0.05, idle_timeout=5) as client, connect(client) as ws:
        welcome(ws)
        assert ws.receive_json() == {"type": "ping"}
        ws.send_json({"type": "pong"})
        ws.send_json({"type": "ping", "ref": "still-there"})
        assert next_frame(ws) == {"type": "pong", "ref": "still-there"}
