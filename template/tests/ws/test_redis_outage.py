"""WebSockets while Redis is down (REDIS_URL set: tickets, presence and broadcast live there).

HTTP keeps working: an item write is committed and answered although its live event cannot
be broadcast (a lost notification is the lesser evil). A ticket cannot be stored, so asking
for one answers 503 with Retry-After (with auth installed, so does every request with a
token, the write included: see tests/auth/test_redis_outage.py). Tickets are issued again
once Redis is back, without a restart.
"""

import importlib.util

from app.core.config import Settings
from tests.conftest import running_client
from tests.outages import Relay, recovers

AUTH = importlib.util.find_spec("app.auth") is not None
TICKETS = "/api/ws/tickets"


async def test_writes_go_on_and_tickets_are_503_until_redis_returns(
    redis_relay: tuple[Relay, Settings],
) -> None:
    relay, via_relay = redis_relay
    async with running_client(via_relay) as client:
        assert (await client.post(TICKETS)).status_code == 201

        await relay.stop()
        ticket = await client.post(TICKETS)
        item = await client.post("/api/items", json={"name": "Lamp", "price": "3.00"})
        assert ticket.status_code == 503, ticket.text
        assert ticket.headers["retry-after"] == "5"
        if AUTH:
            assert item.status_code == 503, item.text
        else:
            assert item.status_code == 201, item.text

        await relay.start()
        assert await recovers(lambda: client.post(TICKETS), 201) == 201
