"""The core contracts features talk through: domain events and the current tenant."""

import asyncio

import pytest
import structlog
from fastapi import FastAPI

from app.core.config import Settings
from app.core.events import DomainEvent, DomainEvents
from app.core.tenant import current_tenant_id, tenant_scope
from tests.conftest import running_client


def test_listeners_hear_events_in_order_and_a_failing_one_does_not_stop_the_rest() -> None:
    events = DomainEvents()
    heard: list[str] = []

    async def broken(event: DomainEvent) -> None:
        raise RuntimeError("listener bug")

    async def recorder(event: DomainEvent) -> None:
        heard.append(event.type)

    events.subscribe(broken)
    events.subscribe(recorder)
    asyncio.run(events.publish(DomainEvent("item.created", {"id": "1"})))
    assert heard == ["item.created"]


def test_tenant_scope_sets_and_restores_the_tenant_and_tags_log_lines() -> None:
    # Whatever surrounds the test (a feature's test plugin may run it inside a tenant).
    before = current_tenant_id()
    with tenant_scope("t-1"):
        assert current_tenant_id() == "t-1"
        assert structlog.contextvars.get_contextvars()["tenant_id"] == "t-1"
        with tenant_scope("t-2"):
            assert current_tenant_id() == "t-2"
        assert current_tenant_id() == "t-1"
    assert current_tenant_id() == before
    assert structlog.contextvars.get_contextvars().get("tenant_id") == before


def test_tenant_scope_restores_on_error() -> None:
    before = current_tenant_id()
    with pytest.raises(ValueError, match="inside"), tenant_scope("t-1"):
        raise ValueError("raised inside the scope")
    assert current_tenant_id() == before


async def test_item_writes_publish_domain_events_after_commit(settings: Settings) -> None:
    heard: list[DomainEvent] = []

    async def recorder(event: DomainEvent) -> None:
        heard.append(event)

    def listen(app: FastAPI) -> None:
        app.state.domain_events.subscribe(recorder)

    async with running_client(settings, listen) as client:
        created = await client.post("/api/items", json={"name": "lamp", "price": "10.00"})
        assert created.status_code == 201, created.text
        item_id = created.json()["id"]
        changed = await client.patch(f"/api/items/{item_id}", json={"name": "desk lamp"})
        assert changed.status_code == 200, changed.text
        assert (await client.delete(f"/api/items/{item_id}")).status_code == 204
    assert [event.type for event in heard] == ["item.created", "item.updated", "item.deleted"]
    assert heard[0].payload["id"] == item_id
    assert heard[1].payload["name"] == "desk lamp"
    assert heard[2].payload == {"id": item_id}
