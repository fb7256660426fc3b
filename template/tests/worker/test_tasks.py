"""The task bodies on the real database: one effect per task however often it is delivered
(C05), bounded redelivery of a task that keeps killing its worker (C09), the purge."""

import asyncio
import importlib
import importlib.util
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import DateTime, String, Uuid, column, insert, select, table
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.idempotency import IdempotencyRecord
from app.core.models import utcnow
from app.core.tenant import tenant_scope
from app.items.models import Item
from app.worker.db import sync_url, worker_session
from app.worker.models import ItemExport, WelcomeMessage
from app.worker.tasks import (
    DeliveriesExhaustedError,
    export_items,
    items_csv,
    purge_idempotency_records,
    queue_welcome_message,
)

MAX_DELIVERIES = 3


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    with worker_session(settings.database_url, settings.database_statement_timeout_ms) as session:
        yield session


# Where items belong to users (auth), an export holds its caller's items only: these tests
# give their items and exports one owner, a real account.
AUTH = importlib.util.find_spec("app.auth") is not None
TENANCY = importlib.util.find_spec("app.tenancy") is not None


@pytest.fixture
def owner(settings: Settings) -> str | None:
    if not AUTH:
        return None
    return str(asyncio.run(create_account(settings)).id)


def create_account(settings: Settings) -> Any:
    # Imported by name: this module also type-checks in projects without auth.
    plugin = importlib.import_module("tests.auth.plugin")
    return plugin.create_account(settings, ["user"])


def new_export(session: Session, owner: str | None = None, **values: object) -> uuid.UUID:
    export = ItemExport(owner_id=owner, **values)
    session.add(export)
    session.commit()
    return export.id


def add_item(session: Session, name: str, owner: str | None = None) -> None:
    ownership: dict[str, Any] = {} if owner is None else {"owner_id": uuid.UUID(owner)}
    session.add(Item(name=name, price=1, quantity=1, version=1, **ownership))
    session.commit()


def test_idempotent_duplicate_delivery(session: Session, owner: str | None) -> None:
    add_item(session, "first", owner)
    export_id = new_export(session, owner)

    assert export_items(session, export_id, max_deliveries=MAX_DELIVERIES) == 1
    first = session.get(ItemExport, export_id)
    assert first is not None
    content, completed_at = first.content, first.completed_at
    add_item(session, "added between the deliveries", owner)
    # The same message again (a redelivery): the result of the first run stands.
    assert export_items(session, export_id, max_deliveries=MAX_DELIVERIES) == 1

    session.expire_all()
    again = session.get(ItemExport, export_id)
    assert again is not None
    assert (again.content, again.completed_at) == (content, completed_at)
    assert again.deliveries == 2


def test_poison_message_bounded(session: Session) -> None:
    """C09: the worker died on every delivery so far; the next one gives up (the failure is
    acknowledged) instead of taking down workers forever."""
    export_id = new_export(session, deliveries=MAX_DELIVERIES)

    with pytest.raises(DeliveriesExhaustedError):
        export_items(session, export_id, max_deliveries=MAX_DELIVERIES)

    export = session.get(ItemExport, export_id)
    assert export is not None
    assert export.content is None


def test_export_of_a_withdrawn_task_does_nothing(session: Session) -> None:
    assert export_items(session, uuid.uuid4(), max_deliveries=MAX_DELIVERIES) is None


@pytest.mark.skipif(not AUTH, reason="items have no owners without the auth feature")
def test_an_export_holds_only_its_callers_items(
    session: Session, settings: Settings, owner: str | None
) -> None:
    """auth x celery: the worker applies the items API's ownership rule to the export."""
    other = str(asyncio.run(create_account(settings)).id)
    add_item(session, "mine", owner)
    add_item(session, "theirs", other)
    export_id = new_export(session, owner)
    assert export_items(session, export_id, max_deliveries=MAX_DELIVERIES) == 1
    export = session.get(ItemExport, export_id)
    assert export is not None
    assert export.content is not None
    assert "mine" in export.content
    assert "theirs" not in export.content
    # An anonymous caller owns nothing, so its export is empty (as its item list is).
    anonymous = new_export(session)
    assert export_items(session, anonymous, max_deliveries=MAX_DELIVERIES) == 0


# The tenants table as the tenancy migration creates it (no import of app.tenancy here).
TENANTS = table(
    "tenants",
    column("id", Uuid()),
    column("slug", String()),
    column("name", String()),
    column("status", String()),
    column("created_at", DateTime(timezone=True)),
)


def add_tenant(session: Session) -> str:
    tenant_id = uuid.uuid4()
    row = {"id": tenant_id, "slug": f"t-{tenant_id.hex[:12]}", "name": "Worker test tenant"}
    session.execute(insert(TENANTS).values(**row, status="active", created_at=utcnow()))
    session.commit()
    return str(tenant_id)


@pytest.mark.skipif(not TENANCY, reason="one tenant only without the multi_tenancy feature")
def test_a_task_started_by_one_tenant_never_reads_anothers_rows(
    session: Session, owner: str | None
) -> None:
    """T10: the worker runs the task in its caller's tenant (task_context), and tenancy's
    session listeners (and on PostgreSQL, row-level security) apply to worker sessions."""
    tenant_a, tenant_b = add_tenant(session), add_tenant(session)
    with tenant_scope(tenant_b):
        add_item(session, "of tenant b", owner)
    with tenant_scope(tenant_a):
        add_item(session, "of tenant a", owner)
        export_id = new_export(session, owner)
        assert export_items(session, export_id, max_deliveries=MAX_DELIVERIES) == 1
        export = session.get(ItemExport, export_id)
    assert export is not None
    assert export.content is not None
    assert "of tenant a" in export.content
    assert "of tenant b" not in export.content


def test_csv_cells_cannot_run_as_formulas() -> None:
    items = [Item(name=name, price=1, quantity=1) for name in ("=1+1", "+x", "-x", "@x", "ok")]
    content, count = items_csv(items)
    names = [line.split(",")[1] for line in content.splitlines()[1:]]
    assert names == ["'=1+1", "'+x", "'-x", "'@x", "ok"]
    assert count == len(items)


def test_purge_removes_only_expired_records(session: Session) -> None:
    now = utcnow()
    for key, age in (("old", timedelta(days=2)), ("fresh", timedelta(minutes=5))):
        session.add(
            IdempotencyRecord(
                scope="items.create",
                key=key,
                request_fingerprint="-",
                status_code=201,
                response_body="{}",
                created_at=now - age,
            )
        )
    session.commit()

    assert purge_idempotency_records(session, ttl_seconds=86_400) == 1
    assert purge_idempotency_records(session, ttl_seconds=86_400) == 0
    assert session.scalars(select(IdempotencyRecord.key)).all() == ["fresh"]


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite+aiosqlite:///./app.db", "sqlite+pysqlite"),
        ("postgresql+asyncpg://app@db:5432/app", "postgresql+psycopg"),
    ],
)
def test_worker_uses_the_sync_driver_of_the_same_database(url: str, driver: str) -> None:
    assert sync_url(url).drivername == driver


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="SQLite and PostgreSQL"):
        sync_url("mysql+aiomysql://app@db/app")


def test_the_welcome_message_is_queued_once(session: Session) -> None:
    """A redelivered welcome task finds the message in the outbox and adds nothing."""
    user_id = str(uuid.uuid4())
    assert queue_welcome_message(session, user_id) is True
    assert queue_welcome_message(session, user_id) is False
    rows = session.scalars(select(WelcomeMessage).where(WelcomeMessage.user_id == user_id))
    assert len(rows.all()) == 1
