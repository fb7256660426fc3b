"""WebSocket fan-out across two processes: per-message delivery latency to every client.

Runs inside the rendered project's environment (it uses the `websockets` client library the
project depends on when its websockets feature is on), against two uvicorn processes of the
generated app that share one Redis:

    python ws_fanout.py --server http://127.0.0.1:8001 --server http://127.0.0.1:8002 \
        --clients 50 --messages 100 --rate 20 --ticket-path /api/v1/ws/tickets \
        --header "Authorization: Bearer ..." --output ws.json

Clients are spread over the servers in turn. Each one gets a single-use ticket from
`--ticket-path` (with the given headers: the bearer token, a tenant header) when one is given,
opens `/ws?ticket=...`, and subscribes to `--channel`. Then `--messages` messages at `--rate`
per second, one of two ways:

- a room (the default `room:bench-fanout`): a publisher connected to the first server sends
  them, the app's client publishing path;
- `--publish-url`: each one is an item created with a POST there (the last server's items
  endpoint, with the same headers), and the message is the `item.created` event the app
  pushes to the channel (`items`, or `items:user:<id>`), the server-push path.

Either way the receiving process puts it on the Redis bus and every process hands it to its
own subscribers. Latency is the time from the send (or the POST) to a subscriber's receive,
measured on one clock (all clients live in this process). Writes one JSON document: counts,
and p50/p99/max overall and per server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import latency
from websockets.asyncio.client import ClientConnection, connect

ROOM = "room:bench-fanout"
ITEM_NAME = "ws-fanout-"  # + sequence number: how an item event is matched to its POST
# Waiting bounds, not measurements: a frame that has not arrived by then counts as lost.
REPLY_TIMEOUT = 15.0
DRAIN_SECONDS = 5.0


def summary(latencies_ms: list[float]) -> dict[str, float | int | None]:
    return {"count": len(latencies_ms), **latency.summary(latencies_ms)}


@dataclass
class Subscriber:
    server: int
    connection: ClientConnection
    received: dict[int, float] = field(default_factory=dict)  # seq -> perf_counter at receive


def ticket(http_base: str, path: str, headers: dict[str, str]) -> str:
    request = urllib.request.Request(http_base + path, data=b"", method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=REPLY_TIMEOUT) as response:
        return str(json.loads(response.read())["ticket"])


async def open_socket(http_base: str, ticket_path: str | None, headers: dict[str, str]) -> Any:
    url = http_base.replace("http://", "ws://", 1) + "/ws"
    if ticket_path:
        issued = await asyncio.to_thread(ticket, http_base, ticket_path, headers)
        url += "?" + urllib.parse.urlencode({"ticket": issued})
    connection = await connect(url, open_timeout=REPLY_TIMEOUT, max_queue=None)
    welcome = json.loads(await asyncio.wait_for(connection.recv(), REPLY_TIMEOUT))
    if welcome.get("type") != "welcome":
        raise RuntimeError(f"expected a welcome frame, got {welcome}")
    return connection


async def subscribe(connection: ClientConnection, channel: str) -> None:
    await connection.send(json.dumps({"type": "subscribe", "channel": channel, "ref": "s"}))
    async with asyncio.timeout(REPLY_TIMEOUT):
        while True:
            frame = json.loads(await connection.recv())
            if frame.get("type") == "subscribed":
                return
            if frame.get("type") == "error":
                raise RuntimeError(f"subscribe refused: {frame}")


def sequence_of(frame: dict[str, Any], channel: str) -> int | None:
    """The sequence number a frame carries: a room message's, or a created item's name."""
    if frame.get("channel") != channel:
        return None
    data = frame.get("data")
    if frame.get("type") == "message" and isinstance(data, dict) and "seq" in data:
        return int(data["seq"])
    if frame.get("type") == "event" and frame.get("event") == "item.created":
        name = data.get("name", "") if isinstance(data, dict) else ""
        if name.startswith(ITEM_NAME):
            return int(name.removeprefix(ITEM_NAME))
    return None


async def listen(subscriber: Subscriber, channel: str) -> None:
    """Record each message's arrival; answer the server's application-level pings."""
    async for raw in subscriber.connection:
        arrived = time.perf_counter()
        frame = json.loads(raw)
        seq = sequence_of(frame, channel)
        if seq is not None:
            subscriber.received[seq] = arrived
        elif frame.get("type") == "ping":
            await subscriber.connection.send(json.dumps({"type": "pong"}))


def create_item(url: str, headers: dict[str, str], seq: int) -> None:
    body = json.dumps({"name": f"{ITEM_NAME}{seq}", "price": "1.00", "quantity": 1}).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={**headers, "Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=REPLY_TIMEOUT) as response:
        if response.status != 201:
            raise RuntimeError(f"POST {url} answered {response.status}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    headers = dict(header.split(": ", 1) for header in args.header)
    servers: list[str] = args.server
    subscribers = []
    for index in range(args.clients):
        server = index % len(servers)
        connection = await open_socket(servers[server], args.ticket_path, headers)
        await subscribe(connection, args.channel)
        subscribers.append(Subscriber(server, connection))
    publisher = await open_socket(servers[0], args.ticket_path, headers)
    listeners = [asyncio.create_task(listen(s, args.channel)) for s in subscribers]
    # The publisher's own replies ("published", pings) are read and dropped.
    publisher_replies = asyncio.create_task(_drain(publisher))
    sent: dict[int, float] = {}
    interval = 1.0 / args.rate
    started = time.perf_counter()
    for seq in range(args.messages):
        # Paced against the schedule, not the previous send, so delays do not accumulate.
        await asyncio.sleep(max(0.0, started + seq * interval - time.perf_counter()))
        sent[seq] = time.perf_counter()
        if args.publish_url:
            await asyncio.to_thread(create_item, args.publish_url, headers, seq)
        else:
            frame = {"type": "publish", "channel": args.channel, "data": {"seq": seq}}
            await publisher.send(json.dumps(frame))
    deadline = time.perf_counter() + DRAIN_SECONDS
    expected = args.messages * args.clients
    while time.perf_counter() < deadline:
        if sum(len(s.received) for s in subscribers) >= expected:
            break
        await asyncio.sleep(0.05)
    for task in [*listeners, publisher_replies]:
        task.cancel()
    for connection in [publisher, *(s.connection for s in subscribers)]:
        await connection.close()
    by_server: dict[int, list[float]] = {index: [] for index in range(len(servers))}
    for subscriber in subscribers:
        for seq, arrived in subscriber.received.items():
            by_server[subscriber.server].append(1000 * (arrived - sent[seq]))
    everything = [value for values in by_server.values() for value in values]
    return {
        "channel": args.channel,
        "via": "item POST" if args.publish_url else "client publish",
        "clients": args.clients,
        "servers": len(servers),
        "messages": args.messages,
        "rate_per_second": args.rate,
        "expected": expected,
        "delivered": len(everything),
        "publish_seconds": sent[args.messages - 1] - started if sent else 0.0,
        "latency": summary(everything),
        "by_server": {str(index): summary(values) for index, values in by_server.items()},
    }


async def _drain(connection: ClientConnection) -> None:
    async for raw in connection:
        if json.loads(raw).get("type") == "ping":
            await connection.send(json.dumps({"type": "pong"}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", action="append", required=True, help="http://host:port")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second")
    parser.add_argument("--ticket-path", help="POST path of the handshake ticket endpoint")
    parser.add_argument("--channel", default=ROOM)
    parser.add_argument("--publish-url", help="create items here instead of publishing")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    with open(args.output, "w", encoding="utf-8") as output:
        json.dump(result, output, indent=1)


if __name__ == "__main__":
    main()
