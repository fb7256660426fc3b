"""Database chores of a benchmark run, with asyncpg from the rendered project's environment.

    python dbtool.py create DSN        # CREATE DATABASE (DSN names the new database)
    python dbtool.py drop DSN          # DROP DATABASE ... WITH (FORCE)
    python dbtool.py seed DSN ROWS [COLUMN=VALUE ...]
                                       # seed `items` and the minimal app's tables identically

DSN is a plain libpq URL (postgresql://user@host:port/dbname). The generated project's
migrations must have run before `seed`. COLUMN=VALUE sets a column of every item (the
benchmark's user as `owner_id`, its tenant as `tenant_id`), so the caller the scenarios use
sees them. Other columns that features add to `items` are filled generically: a NOT NULL
foreign key takes the first row of the table it references, creating a synthetic row there if
that table is empty; other NOT NULL columns without a default take a synthetic value of their
type. Prints a JSON summary.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

BASE_COLUMNS = (
    "id",
    "name",
    "description",
    "price",
    "quantity",
    "version",
    "created_at",
    "updated_at",
)

MINIMAL_SCHEMA = """
DROP TABLE IF EXISTS minimal_items, minimal_idempotency;
CREATE TABLE minimal_items (
    id uuid PRIMARY KEY,
    name varchar(200) NOT NULL,
    description varchar(2000),
    price numeric(12, 2) NOT NULL,
    quantity integer NOT NULL,
    version integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX ix_minimal_items_created_at_id ON minimal_items (created_at, id);
CREATE TABLE minimal_idempotency (
    key varchar(255) PRIMARY KEY,
    request_fingerprint varchar(64) NOT NULL,
    response_body text NOT NULL,
    created_at timestamptz NOT NULL
);
"""


def _admin_dsn(dsn: str) -> tuple[str, str]:
    parts = urlsplit(dsn)
    name = parts.path.lstrip("/")
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing database name {name!r}: letters, digits and _ only")
    return urlunsplit(parts._replace(path="/postgres")), name


async def create(dsn: str) -> dict[str, Any]:
    admin, name = _admin_dsn(dsn)
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return {"created": name}


async def drop(dsn: str) -> dict[str, Any]:
    admin, name = _admin_dsn(dsn)
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()
    return {"dropped": name}


def _literal(value: str, data_type: str) -> str:
    # Typed: in INSERT ... SELECT an untyped literal would be text, which a uuid column refuses.
    return "'" + value.replace("'", "''") + "'::" + data_type


def _synthetic(data_type: str) -> str:
    """A SQL literal of the column's type for a synthetic row."""
    kind = data_type.lower()
    if kind == "uuid":
        return f"'{uuid.uuid4()}'::uuid"
    if kind in ("integer", "bigint", "smallint", "numeric", "double precision", "real"):
        return "0"
    if kind == "boolean":
        return "true"
    if kind.startswith("timestamp"):
        return "now()"
    if kind == "date":
        return "current_date"
    if kind in ("json", "jsonb"):
        return "'{}'"
    if kind == "array":
        return "'{}'"
    return f"'bench-{uuid.uuid4().hex[:12]}'"


async def _required_columns(connection: asyncpg.Connection, table: str) -> list[asyncpg.Record]:
    return await connection.fetch(
        """
        SELECT c.column_name, c.data_type, fk.foreign_table, fk.foreign_column
        FROM information_schema.columns c
        LEFT JOIN (
            SELECT kcu.column_name, ccu.table_name AS foreign_table,
                   ccu.column_name AS foreign_column
            FROM information_schema.table_constraints tc
            JOIN information_schema.key_column_usage kcu
              ON tc.constraint_name = kcu.constraint_name AND tc.table_name = kcu.table_name
            JOIN information_schema.constraint_column_usage ccu
              ON tc.constraint_name = ccu.constraint_name
            WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_name = $1
        ) fk ON fk.column_name = c.column_name
        WHERE c.table_name = $1 AND c.table_schema = 'public'
          AND c.is_nullable = 'NO' AND c.column_default IS NULL
        """,
        table,
    )


async def _value_for(connection: asyncpg.Connection, column: asyncpg.Record, depth: int) -> str:
    """A SQL expression for a required column of a seeded row."""
    if column["foreign_table"] is None:
        return _synthetic(column["data_type"])
    table, target = column["foreign_table"], column["foreign_column"]
    existing = await connection.fetchval(f'SELECT "{target}"::text FROM "{table}" LIMIT 1')
    if existing is None:
        if depth > 3:
            raise SystemExit(f"cannot seed: foreign keys nest too deep at {table}")
        existing = await _insert_synthetic(connection, table, target, depth + 1)
    return _literal(existing, column["data_type"])


async def _insert_synthetic(
    connection: asyncpg.Connection, table: str, returning: str, depth: int
) -> str:
    columns = await _required_columns(connection, table)
    names = [f'"{column["column_name"]}"' for column in columns]
    values = [await _value_for(connection, column, depth) for column in columns]
    query = (
        f'INSERT INTO "{table}" ({", ".join(names)}) VALUES ({", ".join(values)}) '
        f'RETURNING "{returning}"::text'
    )
    return str(await connection.fetchval(query))


async def seed(dsn: str, rows: int, given: dict[str, str] | None = None) -> dict[str, Any]:
    given = given or {}
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(MINIMAL_SCHEMA)
        await connection.execute("TRUNCATE items CASCADE")
        types = {
            column["column_name"]: column["data_type"]
            for column in await connection.fetch(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'items' AND table_schema = 'public'"
            )
        }
        unknown = set(given) - set(types)
        if unknown:
            raise SystemExit(f"items has no column {', '.join(sorted(unknown))}")
        required = [
            column
            for column in await _required_columns(connection, "items")
            if column["column_name"] not in BASE_COLUMNS and column["column_name"] not in given
        ]
        extra = [*given, *(column["column_name"] for column in required)]
        extra_names = [f'"{name}"' for name in extra]
        extra_values = [_literal(value, types[name]) for name, value in given.items()]
        extra_values += [await _value_for(connection, column, 0) for column in required]
        names = ", ".join([*BASE_COLUMNS, *extra_names])
        values = ", ".join(
            [
                "gen_random_uuid()",
                "'item ' || i",
                "'a benchmark item, number ' || i",
                "((i % 1000) + 0.99)::numeric(12, 2)",
                "i % 50",
                "1",
                "timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second'",
                "timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second'",
                *extra_values,
            ]
        )
        await connection.execute(
            f"INSERT INTO items ({names}) SELECT {values} FROM generate_series(1, $1) AS i",
            rows,
        )
        base = ", ".join(BASE_COLUMNS)
        await connection.execute(f"INSERT INTO minimal_items ({base}) SELECT {base} FROM items")
        await connection.execute("ANALYZE items")
        await connection.execute("ANALYZE minimal_items")
        sample = await connection.fetchrow(
            "SELECT id::text AS id, version FROM items ORDER BY created_at, id OFFSET $1 LIMIT 1",
            rows // 2,
        )
        assert sample is not None
        return {
            "rows": rows,
            "extra_columns": dict(zip(extra, extra_values, strict=True)),
            "sample_item": {"id": sample["id"], "version": sample["version"]},
        }
    finally:
        await connection.close()


def main(argv: list[str]) -> None:
    command, dsn, *rest = argv
    if command == "create":
        result = asyncio.run(create(dsn))
    elif command == "drop":
        result = asyncio.run(drop(dsn))
    elif command == "seed":
        given = dict(pair.split("=", 1) for pair in rest[1:])
        result = asyncio.run(seed(dsn, int(rest[0]) if rest else 10_000, given))
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
