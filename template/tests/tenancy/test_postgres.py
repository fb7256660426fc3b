"""Layer 2, PostgreSQL row-level security, with the app connected as a restricted role.

The run's database is migrated by its owner, as a deployment would be; these tests create a
role that owns nothing, may not bypass RLS and is not a superuser, grant it what the service
needs, run the app (and raw connections) as that role, and drop the role afterwards. Then
they check the catalogue (T01, T02), that no tenant means no rows on fresh and reused
connections (T03), that writes cannot cross tenants even with the ORM filter bypassed (T05),
and that 1,000 interleaved requests of two tenants through two pooled connections never see
a foreign row (T04).
"""

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import httpx2
import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import UpdateBase

from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.core.models import Base
from app.core.tenant import tenant_scope
from app.items.models import Item
from app.tenancy.isolation import BYPASS_TENANT_FILTER, tenant_scoped_classes
from app.tenancy.models import NO_RLS_REASON
from tests.conftest import credentials, running_client
from tests.database import needs_database_server
from tests.tenancy.conftest import Tenants, as_tenant
from tests.tenancy.plugin import DefaultTenant

pytestmark = needs_database_server(
    "row-level security is PostgreSQL's (services mode: TEST_DATABASE_URL)"
)

ITEMS = "/api/items"
REQUESTS = 1000
CONCURRENCY = 20
SET_TENANT = text("SELECT set_config('app.tenant_id', :tenant_id, true)")
COUNT_ITEMS = text("SELECT count(*) FROM items")


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
async def app_database_url(database_url: str) -> AsyncIterator[str]:
    """The run's database as a role with table privileges only (not owner, no BYPASSRLS)."""
    role = f"tenancy_app_{uuid.uuid4().hex[:12]}"
    password = secrets.token_hex(16)
    database = make_url(database_url).database
    admin = await asyncpg.connect(_dsn(database_url))
    try:
        await admin.execute(
            f"CREATE ROLE {role} LOGIN PASSWORD '{password}' "
            "NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
        )
        await admin.execute(f'GRANT CONNECT ON DATABASE "{database}" TO {role}')
        await admin.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        await admin.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
        )
        yield (
            make_url(database_url)
            .set(username=role, password=password)
            .render_as_string(hide_password=False)
        )
    finally:
        await admin.execute(f"DROP OWNED BY {role}")
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


@pytest.fixture
def app_settings(settings: Settings, app_database_url: str) -> Settings:
    return settings.model_copy(update={"database_url": app_database_url})


@pytest.fixture
async def app_engine(app_database_url: str) -> AsyncIterator[AsyncEngine]:
    """Raw connections as the app role: no ORM, so no filter and no tenant set for us."""
    engine = create_async_engine(app_database_url, pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        await engine.dispose()


async def seed(
    settings: Settings, tenants: Tenants, per_tenant: int = 3
) -> dict[uuid.UUID, set[str]]:
    """Items of both tenants, written through the ORM as the app role."""
    engine = create_engine(settings)
    owned: dict[uuid.UUID, set[str]] = {}
    try:
        for tenant in (tenants.a, tenants.b):
            with tenant_scope(str(tenant)):
                async with create_sessionmaker(engine)() as session:
                    items = [
                        Item(name=f"{tenant}-{n}", price=Decimal("1.00"), quantity=n)
                        for n in range(per_tenant)
                    ]
                    session.add_all(items)
                    await session.commit()
                    owned[tenant] = {str(item.id) for item in items}
    finally:
        await engine.dispose()
    return owned


async def test_rls_catalogue(database_url: str, app_database_url: str) -> None:
    """T01: every table with tenant_id has RLS enabled and forced and a real policy; the
    role the app runs as owns none of them and cannot bypass RLS."""
    role = make_url(app_database_url).username
    connection = await asyncpg.connect(_dsn(database_url))
    try:
        tables = await connection.fetch(
            """
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   pg_get_userbyid(c.relowner) AS owner
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND EXISTS (
                SELECT 1 FROM pg_attribute a
                WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
            """
        )
        policies = await connection.fetch(
            "SELECT tablename, qual, with_check FROM pg_policies WHERE schemaname = 'public'"
        )
        app_role = await connection.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", role
        )
    finally:
        await connection.close()

    scoped = {model.__table__.name for model in tenant_scoped_classes()}
    # Tables that name a tenant without belonging to one, each with its reason (memberships
    # are read at sign-in, before a tenant is chosen).
    unscoped = {name for name, table in Base.metadata.tables.items() if NO_RLS_REASON in table.info}
    tables = [row for row in tables if row["relname"] not in unscoped]
    assert {row["relname"] for row in tables} == scoped
    for row in tables:
        assert row["relrowsecurity"], f"{row['relname']}: RLS not enabled"
        assert row["relforcerowsecurity"], f"{row['relname']}: RLS not forced (owner bypasses)"
        assert row["owner"] != role
        table_policies = [p for p in policies if p["tablename"] == row["relname"]]
        assert table_policies, f"{row['relname']}: RLS without a policy"
        for policy in table_policies:
            assert "app.tenant_id" in policy["qual"]
            assert policy["qual"].strip("() ").lower() != "true"
            assert "app.tenant_id" in (policy["with_check"] or "")
    assert app_role is not None
    assert (app_role["rolsuper"], app_role["rolbypassrls"]) == (False, False)


async def test_no_definer_views_or_functions(database_url: str) -> None:
    """T02: nothing in the schema runs with its owner's rights around the policies."""
    connection = await asyncpg.connect(_dsn(database_url))
    try:
        definers = await connection.fetch(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' AND p.prosecdef"
        )
        views = await connection.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm') "
            "AND NOT coalesce('security_invoker=true' = ANY(c.reloptions), false)"
        )
    finally:
        await connection.close()
    assert (definers, views) == ([], [])


async def test_no_tenant_means_no_rows_on_fresh_and_reused_connections(
    app_settings: Settings, app_engine: AsyncEngine, tenants: Tenants
) -> None:
    """T03: the setting is unset (NULL) on a fresh connection and '' on one that had it set
    locally before; the policy reads both as no tenant."""
    owned = await seed(app_settings, tenants)
    async with app_engine.connect() as connection:
        assert (await connection.execute(COUNT_ITEMS)).scalar_one() == 0  # fresh
        await connection.execute(SET_TENANT, {"tenant_id": str(tenants.a)})
        assert (await connection.execute(COUNT_ITEMS)).scalar_one() == len(owned[tenants.a])
        await connection.commit()
        assert (await connection.execute(COUNT_ITEMS)).scalar_one() == 0  # reused
        await connection.rollback()
    async with app_engine.connect() as connection:  # the same pooled connection again
        assert (await connection.execute(COUNT_ITEMS)).scalar_one() == 0


async def test_isolation_holds_with_the_orm_filter_bypassed(
    app_settings: Settings, tenants: Tenants
) -> None:
    owned = await seed(app_settings, tenants)
    engine = create_engine(app_settings)
    query = select(Item.id).execution_options(**{BYPASS_TENANT_FILTER: True})
    try:
        with tenant_scope(str(tenants.a)):
            async with create_sessionmaker(engine)() as session:
                seen = {str(item_id) for item_id in await session.scalars(query)}
        assert seen == owned[tenants.a]
    finally:
        await engine.dispose()


async def test_writes_cannot_cross_tenants_in_the_database(
    app_settings: Settings, app_engine: AsyncEngine, tenants: Tenants
) -> None:
    """T05: as tenant A, with no ORM at all: inserting or moving a row into B is refused,
    B's rows cannot be changed or deleted, and nothing of B's changes."""
    owned = await seed(app_settings, tenants)
    mine, theirs = next(iter(owned[tenants.a])), next(iter(owned[tenants.b]))
    items = Base.metadata.tables["items"]

    async def as_a(statement: UpdateBase) -> int:
        async with app_engine.begin() as connection:
            await connection.execute(SET_TENANT, {"tenant_id": str(tenants.a)})
            return (await connection.execute(statement)).rowcount

    smuggled = insert(items).values(
        id=uuid.uuid4(),
        name="x",
        price=1,
        quantity=1,
        version=1,
        tenant_id=tenants.b,
        created_at=text("now()"),
        updated_at=text("now()"),
    )
    with pytest.raises(DBAPIError, match="row-level security"):
        await as_a(smuggled)
    with pytest.raises(DBAPIError, match="row-level security"):
        await as_a(update(items).where(items.c.id == uuid.UUID(mine)).values(tenant_id=tenants.b))
    assert await as_a(update(items).where(items.c.id == uuid.UUID(theirs)).values(quantity=9)) == 0
    assert await as_a(items.delete().where(items.c.id == uuid.UUID(theirs))) == 0

    async with app_engine.begin() as connection:
        await connection.execute(SET_TENANT, {"tenant_id": str(tenants.b)})
        rows = (await connection.execute(select(items.c.id, items.c.quantity))).all()
    assert {str(row.id) for row in rows} == owned[tenants.b]
    assert 9 not in {row.quantity for row in rows}


async def test_interleaved_requests_through_two_connections_see_no_foreign_row(
    app_settings: Settings,
    tenants: Tenants,
    default_tenant: DefaultTenant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """T04: 1,000 requests alternating between two tenants over a pool of 2 connections,
    mixed with requests that fail inside their transaction (a foreign id: 404; a stale
    If-Match: 412) and requests that never set a tenant (unknown tenant: 403)."""
    owned = await seed(app_settings, tenants)
    default_tenant.send_header = False
    # 1,000 requests from one client: with rate limiting present, do not count them.
    monkeypatch.setenv("RATE_LIMIT_ENABLED", "false")
    pool_of_two = app_settings.model_copy(
        update={"database_pool_size": 2, "database_max_overflow": 0}
    )
    foreign_rows = 0
    statuses: dict[int, int] = {}

    async def one(client: httpx2.AsyncClient, n: int) -> None:
        nonlocal foreign_rows
        tenant, other = (tenants.a, tenants.b) if n % 2 == 0 else (tenants.b, tenants.a)
        own_id, foreign_id = next(iter(owned[tenant])), next(iter(owned[other]))
        if n % 10 == 9:
            response = await client.get(ITEMS, headers=as_tenant(uuid.uuid4()))
        elif n % 5 == 3:
            response = await client.get(f"{ITEMS}/{foreign_id}", headers=as_tenant(tenant))
        elif n % 7 == 5:
            response = await client.patch(
                f"{ITEMS}/{own_id}",
                json={"quantity": 1},
                headers=as_tenant(tenant) | {"If-Match": '"999"'},
            )
        else:
            response = await client.get(ITEMS, headers=as_tenant(tenant))
            ids = {item["id"] for item in response.json()["items"]}
            assert ids == owned[tenant]
        if response.is_success:  # a 404 names the id it was asked for; that is no row
            foreign_rows += sum(item_id in response.text for item_id in owned[other])
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    async with running_client(pool_of_two, anonymous=True) as client:
        # With auth, the seeded items have no owner: an admin sees them (a user would not).
        client.headers.update(await credentials(pool_of_two, "admin"))
        for start in range(0, REQUESTS, CONCURRENCY):
            await asyncio.gather(*(one(client, n) for n in range(start, start + CONCURRENCY)))

    assert foreign_rows == 0
    assert sum(statuses.values()) == REQUESTS
    assert set(statuses) == {200, 403, 404, 412}, statuses
