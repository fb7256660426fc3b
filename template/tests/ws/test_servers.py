"""Real servers and a real client (the `websockets` library): what TestClient cannot show.

Cross-process broadcast (two uvicorn processes sharing Redis), a slow consumer behind a real
TCP connection (W09), the server's own frame-size limit (W05), SIGTERM closing sockets with
1012 (W12) and no ticket in the server's log (W03).
"""

import asyncio
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.ws.conftest import needs_stand_in_item_writes
from tests.ws.servers import WS_MAX_SIZE, uvicorn_server

ROOM = "room:lobby"
# Waiting bounds, not assertions about speed: a frame that has not arrived by then never will.
RECEIVE_TIMEOUT = 15.0


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT))
    return message


async def receive_until(
    ws: ClientConnection, wanted: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The first frame that satisfies `wanted`, skipping others (pings, joins, ...)."""
    while not wanted(message := await receive(ws)):
        pass
    return message


async def welcome(ws: ClientConnection) -> str:
    """Read the welcome frame; this connection's id."""
    message = await receive(ws)
    assert message["type"] == "welcome"
    connection_id: str = message["connection_id"]
    return connection_id


async def subscribe(ws: ClientConnection, channel: str) -> None:
    await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
    await receive_until(ws, lambda m: m["type"] == "subscribed" and m["channel"] == channel)


async def close_code(ws: ClientConnection) -> int | None:
    """Read until the connection ends; the close code the server sent (None: no close frame)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def wait_for_subscriber(admin: Redis, bus: str) -> None:
    """Until a process is subscribed to the bus again (bounded: the subscriber retries every
    few seconds at most)."""
    async with asyncio.timeout(RECEIVE_TIMEOUT):
        # Polling: the state is in another process; there is no event to wait on.
        while (await admin.pubsub_numsub(bus))[0][1] < 1:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


def redis_or_skip(redis_url: str | None) -> str:
    if redis_url is None:
        pytest.skip("cross-process broadcast needs Redis: set TEST_REDIS_URL (services mode)")
    return redis_url


async def test_a_message_published_on_one_process_reaches_clients_of_another(
    database_url: str, redis_url: str | None, tmp_path: Path
) -> None:
    url = redis_or_skip(redis_url)
    async with (
        uvicorn_server(database_url, url, tmp_path / "a.log") as a,
        uvicorn_server(database_url, url, tmp_path / "b.log") as b,
        connect(a.ws_url) as on_a,
        connect(b.ws_url) as on_b,
    ):
        await welcome(on_a)
        await welcome(on_b)
        await subscribe(on_a, ROOM)
        await subscribe(on_b, ROOM)

        await on_b.send(json.dumps({"type": "publish", "channel": ROOM, "data": "from b"}))
        message = await receive_until(on_a, lambda m: m["type"] == "message")
        assert (message["channel"], message["data"]) == (ROOM, "from b")


# Item events take the same path between processes as messages (the hub's broadcast); with
# auth or multi_tenancy, test_with_*.py shows them reaching the right users through Redis.
@needs_stand_in_item_writes
async def test_an_item_written_through_one_process_is_announced_on_another(
    database_url: str, redis_url: str | None, tmp_path: Path
) -> None:
    url = redis_or_skip(redis_url)
    async with (
        uvicorn_server(database_url, url, tmp_path / "a.log") as a,
        uvicorn_server(database_url, url, tmp_path / "b.log") as b,
        connect(a.ws_url) as on_a,
    ):
        await welcome(on_a)
        await subscribe(on_a, "items")

        async with httpx2.AsyncClient(base_url=b.http_url) as http:
            created = await http.post("/api/items", json={"name": "Lamp", "price": "3.00"})
        assert created.status_code == 201
        event = await receive_until(on_a, lambda m: m["type"] == "event")
        assert event["data"] == created.json()


async def test_the_broadcast_resubscribes_after_redis_drops_it(
    database_url: str, redis_url: str | None, tmp_path: Path, websocket_key_prefix: str
) -> None:
    """What a Redis restart does to the subscriber: its connection is gone; it comes back."""
    url = redis_or_skip(redis_url)
    bus = f"{websocket_key_prefix}:bus"
    admin = Redis.from_url(url, decode_responses=True)
    try:
        async with (
            uvicorn_server(database_url, url, tmp_path / "a.log") as server,
            connect(server.ws_url) as listener,
            connect(server.ws_url) as speaker,
        ):
            for ws in (listener, speaker):
                await welcome(ws)
                await subscribe(ws, ROOM)
            # The broadcast's subscriber connection: named after the bus, subscribed to one.
            clients = await admin.client_list()
            [subscriber] = [c for c in clients if c["name"] == bus and c["sub"] == "1"]
            await admin.client_kill_filter(_id=subscriber["id"])

            await wait_for_subscriber(admin, bus)
            await speaker.send(json.dumps({"type": "publish", "channel": ROOM, "data": "again"}))
            message = await receive_until(listener, lambda m: m["type"] == "message")
            assert message["data"] == "again"
    finally:
        await admin.aclose()


async def test_a_slow_consumer_is_disconnected_without_holding_up_others(
    database_url: str, redis_url: str | None, tmp_path: Path
) -> None:
    """W09: a client that stops reading fills its bounded queue and is closed (1013)."""
    limits = {
        "WS_SEND_QUEUE_SIZE": "8",
        "WS_MESSAGES_PER_SECOND": "100000",
        "WS_MESSAGE_BURST": "100000",
    }
    payload = secrets.token_urlsafe(24_000)  # incompressible, about 32 kB
    async with (
        uvicorn_server(database_url, redis_url, tmp_path / "a.log", **limits) as server,
        # max_queue=1: the client library stops reading the socket once one frame waits;
        # no compression, so that the frames fill the TCP buffers between them.
        connect(server.ws_url, max_queue=1, compression=None) as slow,
        connect(server.ws_url) as fast,
    ):
        slow_id = await welcome(slow)
        await welcome(fast)
        await subscribe(slow, ROOM)
        await subscribe(fast, ROOM)
        sent = 0
        received = 0
        left = None
        while left is None:
            await fast.send(json.dumps({"type": "publish", "channel": ROOM, "data": payload}))
            sent += 1
            # Read what this publication caused before sending more, as a well-behaved client.
            while True:
                message = await receive(fast)
                if message["type"] == "message":
                    received += 1
                if message["type"] == "leave" and message["member"]["id"] == slow_id:
                    left = message
                if message["type"] == "published":
                    break
            assert sent < 5_000, "the slow consumer was never disconnected"
        # Every publication reached the fast client while the slow one fell behind.
        while received < sent:
            if (await receive(fast))["type"] == "message":
                received += 1
        assert await close_code(slow) in (1013, None)


async def test_the_server_refuses_frames_over_its_size_limit(
    database_url: str, redis_url: str | None, tmp_path: Path
) -> None:
    """W05 at the server: uvicorn --ws-max-size closes an oversized frame with 1009."""
    async with (
        uvicorn_server(database_url, redis_url, tmp_path / "a.log") as server,
        connect(server.ws_url, max_size=None) as ws,
    ):
        await welcome(ws)
        await ws.send("x" * (WS_MAX_SIZE * 3))
        assert await close_code(ws) == 1009


async def test_sigterm_closes_sockets_with_1012_and_logs_no_ticket(
    database_url: str, redis_url: str | None, tmp_path: Path
) -> None:
    """W12 and W03: clients are told to reconnect; the ticket never reaches the log."""
    log = tmp_path / "server.log"
    async with uvicorn_server(database_url, redis_url, log) as server:
        async with httpx2.AsyncClient(base_url=server.http_url) as http:
            ticket = (await http.post("/api/ws/tickets")).json()["ticket"]
        async with connect(f"{server.ws_url}?ticket={ticket}") as ws:
            await welcome(ws)
            await server.terminate()
            assert await close_code(ws) == 1012
    text = log.read_text()
    assert "WebSocket /ws?ticket=[REDACTED]" in text
    assert ticket not in text
