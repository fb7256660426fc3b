"""WebSockets with the multi_tenancy feature installed: real tenants, real resolution.

/ws is exempt from tenant resolution (a browser cannot send the tenant header); the ticket,
issued by a request that tenancy resolved, carries the tenant. A subscriber of tenant A
never hears tenant B's item events (T-series, W-series together). With auth present too,
the writers and ticket holders are signed-in users; without it, anonymous callers.
"""

import asyncio
import importlib.util
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import DateTime, String, Uuid, column, insert, table
from starlette.testclient import TestClient

from app.core.config import Settings
from app.core.db import create_engine
from app.main import create_app
from tests.conftest import credentials
from tests.ws.test_protocol import ITEM, next_frame, subscribe
from tests.ws.test_security import open_session

if importlib.util.find_spec("app.tenancy") is None:
    pytest.skip("the multi_tenancy feature is not part of this project", allow_module_level=True)

TENANT_HEADER = "X-Tenant-ID"


# The tenants table as the tenancy migration creates it (this module does not import
# app.tenancy, so that it type-checks in projects without it).
TENANTS = table(
    "tenants",
    column("id", Uuid()),
    column("slug", String()),
    column("name", String()),
    column("status", String()),
    column("created_at", DateTime(timezone=True)),
)


async def _add_tenants(settings: Settings, *ids: uuid.UUID) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(TENANTS),
                [
                    {
                        "id": tenant_id,
                        "slug": f"t-{tenant_id.hex[:12]}",
                        "name": "WebSocket test tenant",
                        "status": "active",
                        "created_at": datetime.now(UTC),
                    }
                    for tenant_id in ids
                ],
            )
    finally:
        await engine.dispose()


@pytest.fixture
def tenants(settings: Settings) -> tuple[uuid.UUID, uuid.UUID]:
    first, second = uuid.uuid4(), uuid.uuid4()
    asyncio.run(_add_tenants(settings, first, second))
    return first, second


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def caller(settings: Settings, tenant_id: uuid.UUID) -> dict[str, str]:
    """A caller in `tenant_id`: signed in when an authentication layer is installed."""
    return {**asyncio.run(credentials(settings)), TENANT_HEADER: str(tenant_id)}


def test_a_subscriber_never_hears_another_tenants_item_events(
    client: TestClient, settings: Settings, tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    tenant_a, tenant_b = tenants
    in_a, in_b = caller(settings, tenant_a), caller(settings, tenant_b)
    issued = client.post("/api/ws/tickets", headers=in_a)
    assert issued.status_code == 201, issued.text
    # No tenant header and no credentials on the handshake, as from a browser.
    with open_session(client, f"/ws?ticket={issued.json()['ticket']}") as ws:
        subscribe(ws, "items")
        foreign = client.post("/api/items", json=ITEM, headers=in_b)
        assert foreign.status_code == 201, foreign.text
        own = client.post("/api/items", json=ITEM, headers=in_a)
        assert own.status_code == 201, own.text
        # Events arrive in order: were B's item leaked, it would come first.
        event = next_frame(ws)
        assert event["type"] == "event"
        assert event["data"]["id"] == own.json()["id"]
