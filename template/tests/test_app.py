"""Behaviour every route shares: errors, request ids, headers, limits, logs, metrics."""

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import structlog
from fastapi import FastAPI, Request
from sqlalchemy import text

from app.core import db
from app.core.config import Settings
from app.core.db import SessionDep
from tests.conftest import ClientFactory, running_client
from tests.database import migrate_to_heads, needs_database_server
from tests.outages import Relay, recovers, relayed

PROBLEM = "application/problem+json"


def add_failing_route(app: FastAPI) -> None:
    async def explode() -> None:
        raise RuntimeError("database password is hunter2")

    app.add_api_route("/explode", explode)


# Bodies that have brought JSON APIs down: recursion limits, CPU-bound big-integer parsing,
# floats that are no numbers (Python's json accepts NaN and Infinity).
PATHOLOGICAL_JSON = {
    "100k-deep arrays": b"[" * 100_000 + b"]" * 100_000,
    "100k-deep objects": b'{"a": ' * 100_000 + b"1" + b"}" * 100_000,
    "5000-digit integer": b"9" * 5000,
    "5000-digit negative integer": b"-" + b"9" * 5000,
    "5000-digit fraction": b"0." + b"3" * 5000,
    "huge exponent": b"1e999999",
    "NaN": b"NaN",
    "Infinity": b"Infinity",
    "-Infinity": b"-Infinity",
}


def json_operations(schema: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(method, path, top-level fields) of every operation that takes a JSON object."""
    components = schema.get("components", {}).get("schemas", {})
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            body = content["application/json"]["schema"]
            if "$ref" in body:
                body = components[body["$ref"].rsplit("/", 1)[-1]]
            found.append((method.upper(), path, sorted(body.get("properties", {})) or ["value"]))
    return found


class TestErrors:
    async def test_unknown_route_is_a_problem_document(self, client: httpx2.AsyncClient) -> None:
        response = await client.get("/no/such/route")
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM
        body = response.json()
        assert body["status"] == 404
        assert body["title"] == "Not Found"
        assert body["instance"] == "/no/such/route"
        assert body["request_id"] == response.headers["x-request-id"]

    async def test_unhandled_exception_is_a_generic_500(self, settings: Settings) -> None:
        async with running_client(settings, add_failing_route) as client:
            response = await client.get("/explode")
        assert response.status_code == 500
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["detail"] == "An unexpected error occurred."
        assert "hunter2" not in response.text
        assert "Traceback" not in response.text
        assert response.headers["x-request-id"] == response.json()["request_id"]
        assert response.headers["x-content-type-options"] == "nosniff"

    async def test_wrong_method_is_405_with_allow(self, client: httpx2.AsyncClient) -> None:
        response = await client.request("TRACE", "/api/items")
        assert response.status_code == 405
        assert response.headers["content-type"] == PROBLEM
        assert "GET" in response.headers["allow"]


class TestRequestId:
    async def test_generated_when_absent(self, client: httpx2.AsyncClient) -> None:
        response = await client.get("/health/live")
        assert uuid.UUID(response.headers["x-request-id"])

    async def test_incoming_id_is_kept(self, client: httpx2.AsyncClient) -> None:
        request_id = uuid.uuid4().hex
        response = await client.get("/health/live", headers={"X-Request-ID": request_id})
        assert response.headers["x-request-id"] == request_id

    async def test_malformed_incoming_id_is_replaced(self, client: httpx2.AsyncClient) -> None:
        response = await client.get("/health/live", headers={"X-Request-ID": "<script>"})
        assert response.headers["x-request-id"] != "<script>"


class TestSecurityHeaders:
    @pytest.mark.parametrize("path", ["/health/live", "/api/items", "/missing"])
    async def test_present_on_every_response(self, client: httpx2.AsyncClient, path: str) -> None:
        headers = (await client.get(path)).headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["content-security-policy"].startswith("default-src 'none'")
        assert "strict-transport-security" not in headers

    async def test_docs_get_a_policy_that_lets_swagger_load(
        self, client: httpx2.AsyncClient
    ) -> None:
        response = await client.get("/docs")
        assert response.status_code == 200
        assert "cdn.jsdelivr.net" in response.headers["content-security-policy"]

    async def test_production_adds_hsts_and_hides_docs(self, client_for: ClientFactory) -> None:
        async with client_for(environment="production", forwarded_allow_ips=["10.0.0.1"]) as client:
            live = await client.get("/health/live")
            docs = await client.get("/docs")
            schema = await client.get("/openapi.json")
        assert live.headers["strict-transport-security"].startswith("max-age=")
        assert docs.status_code == 404
        assert schema.status_code == 404


class TestLimits:
    async def test_body_over_the_limit_is_413(self, client_for: ClientFactory) -> None:
        body = json.dumps({"name": "x" * 2000, "price": "1.00"})
        async with client_for(max_body_size=1024) as client:
            response = await client.post(
                "/api/items", content=body, headers={"Content-Type": "application/json"}
            )
        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["request_id"] == response.headers["x-request-id"]
        assert response.headers["x-content-type-options"] == "nosniff"

    async def test_chunked_body_over_the_limit_is_413(self, client_for: ClientFactory) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"name": "'
            for _ in range(64):
                yield b"x" * 1024
            yield b'", "price": "1.00"}'

        async with client_for(max_body_size=4096) as client:
            response = await client.post(
                "/api/items", content=chunks(), headers={"Content-Type": "application/json"}
            )
        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM
        assert "4096 bytes" in response.json()["detail"]

    async def test_body_within_the_limit_is_accepted(self, client_for: ClientFactory) -> None:
        body = json.dumps({"name": "x" * 100, "price": "1.00"})
        async with client_for(max_body_size=1024) as client:
            response = await client.post(
                "/api/items", content=body, headers={"Content-Type": "application/json"}
            )
        assert response.status_code == 201

    async def test_untrusted_host_is_refused(self, client_for: ClientFactory) -> None:
        async with client_for(trusted_hosts=["api.example.com"]) as client:
            refused = await client.get("/health/live")
            allowed = await client.get("/health/live", headers={"Host": "api.example.com"})
        assert refused.status_code == 400
        assert allowed.status_code == 200

    @pytest.mark.parametrize("value", PATHOLOGICAL_JSON.values(), ids=PATHOLOGICAL_JSON.keys())
    async def test_pathological_json_is_a_4xx_on_every_json_operation(
        self, client: httpx2.AsyncClient, value: bytes
    ) -> None:
        schema = (await client.get("/openapi.json")).json()
        answers: dict[str, int] = {}
        for method, path, fields in json_operations(schema):
            # The value in every field, so it reaches each field's validation; deep nesting in
            # the first only, to stay under the body size limit and reach the parser.
            repeated = fields if len(value) < 1000 else fields[:1]
            body = b"{" + b", ".join(b'"%s": %s' % (f.encode(), value) for f in repeated) + b"}"
            url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
            response = await client.request(
                method, url, content=body, headers={"Content-Type": "application/json"}
            )
            answers[f"{method} {path}"] = response.status_code
            assert response.headers["content-type"] == PROBLEM, response.text
        assert answers, "no operation takes a JSON body"
        assert all(400 <= status < 500 for status in answers.values()), answers


class TestCors:
    async def test_allowed_origin_gets_cors_headers(self, client_for: ClientFactory) -> None:
        origin = "https://app.example.com"
        async with client_for(cors_origins=[origin]) as client:
            response = await client.options(
                "/api/items",
                headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == origin

    async def test_other_origins_get_none(self, client_for: ClientFactory) -> None:
        async with client_for(cors_origins=["https://app.example.com"]) as client:
            response = await client.get("/health/live", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in response.headers


class TestCompression:
    async def test_large_responses_are_gzipped(self, client: httpx2.AsyncClient) -> None:
        response = await client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
        assert response.headers["content-encoding"] == "gzip"
        assert response.json()["openapi"].startswith("3.")


class TestLogs:
    async def test_access_log_is_json_with_the_request_id(
        self, client_for: ClientFactory, capsys: pytest.CaptureFixture[str]
    ) -> None:
        async with client_for(log_format="json") as client:
            response = await client.get("/health/live")
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
        access = [line for line in lines if line.get("event") == "request"]
        assert access, lines
        assert access[-1]["request_id"] == response.headers["x-request-id"]
        assert access[-1]["status"] == 200
        assert access[-1]["path"] == "/health/live"

    async def test_access_lines_follow_the_log_level(
        self, client_for: ClientFactory, capsys: pytest.CaptureFixture[str]
    ) -> None:
        async with client_for(log_format="json", log_level="WARNING") as client:
            await client.get("/health/live")
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
        assert not [line for line in lines if line.get("event") == "request"]

    async def test_credentials_in_a_logged_path_are_redacted(
        self, client_for: ClientFactory, capsys: pytest.CaptureFixture[str]
    ) -> None:
        async with client_for(log_format="json") as client:
            await client.get("/no/postgresql://app:s3cr3t@db/app")
        output = capsys.readouterr().out
        assert "s3cr3t" not in output
        assert "[REDACTED]" in output

    async def test_secrets_are_redacted(
        self, client_for: ClientFactory, capsys: pytest.CaptureFixture[str]
    ) -> None:
        async with client_for(log_format="json"):
            structlog.get_logger("test").info(
                "connecting",
                password="hunter2",
                headers={"Authorization": "Bearer abc.def.ghi"},
                url="postgresql://app:s3cr3t@db:5432/app",
            )
        output = capsys.readouterr().out
        assert "hunter2" not in output
        assert "abc.def.ghi" not in output
        assert "s3cr3t" not in output
        assert "[REDACTED]" in output

    async def test_unhandled_exception_is_logged_with_traceback(
        self, settings: Settings, capsys: pytest.CaptureFixture[str]
    ) -> None:
        json_settings = settings.model_copy(update={"log_format": "json"})
        async with running_client(json_settings, add_failing_route) as client:
            response = await client.get("/explode")
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
        errors = [line for line in lines if line.get("event") == "unhandled_error"]
        assert errors[0]["request_id"] == response.headers["x-request-id"]
        assert "RuntimeError" in errors[0]["exception"]

    async def test_console_tracebacks_show_no_local_variables(
        self, settings: Settings, capsys: pytest.CaptureFixture[str]
    ) -> None:
        def add_route_with_a_secret_local(app: FastAPI) -> None:
            async def explode() -> None:
                api_key = "sk-live-" + "4f9c2b7e"  # a local variable, never logged by itself
                raise RuntimeError(f"failed with a key of {len(api_key)} characters")

            app.add_api_route("/explode", explode)

        console = settings.model_copy(update={"log_format": "console"})
        async with running_client(console, add_route_with_a_secret_local) as client:
            response = await client.get("/explode")
        output = capsys.readouterr().out
        assert response.status_code == 500
        assert "RuntimeError: failed with a key of 16 characters" in output
        assert "sk-live-4f9c2b7e" not in output


class TestMetrics:
    async def test_requests_are_counted(self, client: httpx2.AsyncClient) -> None:
        await client.get("/api/items")
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        assert 'http_requests_total{handler="/api/items",method="GET",status="2xx"} 1.0' in (
            metrics.text
        )

    async def test_metrics_can_be_switched_off(self, client_for: ClientFactory) -> None:
        async with client_for(metrics_enabled=False) as client:
            assert (await client.get("/metrics")).status_code == 404


class TestOpenApi:
    async def test_every_operation_documents_its_errors(self, client: httpx2.AsyncClient) -> None:
        schema = (await client.get("/openapi.json")).json()
        for path, operations in schema["paths"].items():
            if path.startswith("/health"):
                continue
            for method, operation in operations.items():
                documented = set(operation["responses"])
                assert {"422", "500"} <= documented, f"{method.upper()} {path}: {documented}"
                assert operation.get("description"), f"{method.upper()} {path} has no docstring"


class TestDatabaseOutage:
    async def test_api_answers_503_while_the_database_is_down_and_recovers(
        self, client_for: ClientFactory, tmp_path: Path
    ) -> None:
        # The database directory does not exist yet: every query fails as if the server were down.
        url = f"sqlite+aiosqlite:///{tmp_path / 'later' / 'app.db'}"
        async with client_for(database_url=url) as client:
            down = await client.get("/api/items")
            assert down.status_code == 503
            assert down.headers["content-type"] == PROBLEM
            assert down.headers["retry-after"] == "5"
            assert "sqlite" not in down.text.lower()
            assert (await client.get("/health/ready")).status_code == 503

            (tmp_path / "later").mkdir()
            await migrate_to_heads(url)
            assert (await client.get("/api/items")).status_code == 200
            assert (await client.get("/health/ready")).status_code == 200

    @needs_database_server("a database server to cut off (services mode); SQLite: the test above")
    async def test_postgresql_going_away_is_503_and_the_app_recovers(
        self, settings: Settings
    ) -> None:
        async with relayed(settings.database_url) as relay:
            via_relay = settings.model_copy(update={"database_url": relay.url})
            async with running_client(via_relay) as client:
                assert (await client.get("/api/items")).status_code == 200

                await relay.stop()
                down = await client.get("/api/items")
                assert down.status_code == 503, down.text
                assert down.headers["content-type"] == PROBLEM
                assert down.headers["retry-after"] == "5"
                assert "asyncpg" not in down.text.lower()
                assert (await client.get("/health/ready")).status_code == 503

                await relay.start()
                assert await recovers(lambda: client.get("/api/items"), 200) == 200
                assert (await client.get("/health/ready")).status_code == 200

    @needs_database_server("the pool of a database server (services mode); SQLite has none")
    async def test_a_pooled_connection_dropped_while_idle_is_replaced(
        self, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # every idle connection is pinged
        engine = db.create_engine(settings)
        try:
            async with engine.connect() as connection:
                pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            # The server (a restart, an idle timeout, a proxy) drops the pooled connection.
            other = db.create_engine(settings)
            async with other.connect() as killer:
                await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await other.dispose()
            async with engine.connect() as connection:
                again = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        finally:
            await engine.dispose()
        assert again != pid

    @needs_database_server("statement timeouts are enforced by PostgreSQL (services mode)")
    async def test_a_slow_query_is_cancelled_with_503(self, settings: Settings) -> None:
        def add_slow_route(app: FastAPI) -> None:
            async def slow(session: SessionDep) -> None:
                await session.execute(text("SELECT pg_sleep(5)"))

            app.add_api_route("/slow", slow)

        fast_timeout = settings.model_copy(update={"database_statement_timeout_ms": 200})
        async with running_client(fast_timeout, add_slow_route) as client:
            started = time.monotonic()
            response = await client.get("/slow")
        assert response.status_code == 503
        assert time.monotonic() - started < 4

    @needs_database_server(
        "pool limits apply to a database server (services mode); SQLite has none"
    )
    async def test_an_exhausted_pool_is_503_within_the_pool_timeout(
        self, settings: Settings
    ) -> None:
        holding, release = asyncio.Event(), asyncio.Event()

        def add_holding_route(app: FastAPI) -> None:
            async def hold(session: SessionDep) -> None:
                await session.execute(text("SELECT 1"))
                holding.set()
                await release.wait()

            app.add_api_route("/hold", hold)

        one_connection = settings.model_copy(
            update={
                "database_pool_size": 1,
                "database_max_overflow": 0,
                "database_pool_timeout": 0.5,
            }
        )
        async with running_client(one_connection, add_holding_route) as client:
            holder = asyncio.create_task(client.get("/hold"))
            # The holder has the only connection once it has run its query.
            await asyncio.wait_for(holding.wait(), 10)
            started = time.monotonic()
            queued = await client.get("/api/items")
            waited = time.monotonic() - started
            release.set()
            assert (await holder).status_code == 200
            assert queued.status_code == 503, queued.text
            assert queued.headers["retry-after"] == "5"
            assert waited < 3
            # The connection is back in the pool: the next request is served.
            assert (await client.get("/api/items")).status_code == 200


class TestRedisOutage:
    async def test_a_route_that_needs_redis_answers_503_while_it_is_down_and_recovers(
        self, redis_relay: tuple[Relay, Settings]
    ) -> None:
        def add_redis_route(app: FastAPI) -> None:
            async def ping(request: Request) -> dict[str, bool]:
                return {"pong": await request.state.redis.ping()}

            app.add_api_route("/ping", ping)

        relay, via_relay = redis_relay
        # Anonymous: with auth, a token would be refused first (revocations live in Redis).
        async with running_client(via_relay, add_redis_route, anonymous=True) as client:
            assert (await client.get("/ping")).status_code == 200

            await relay.stop()
            down = await client.get("/ping")
            assert down.status_code == 503
            assert down.headers["content-type"] == PROBLEM
            assert down.headers["retry-after"] == "5"
            assert "redis" not in down.text.lower()
            assert "127.0.0.1" not in down.text

            await relay.start()
            assert await recovers(lambda: client.get("/ping"), 200) == 200


class TestUnstorableText:
    async def test_a_nul_character_in_an_item_is_refused_with_422(
        self, client: httpx2.AsyncClient
    ) -> None:
        for body in ({"name": "a\x00b", "price": "1"}, {"name": "ok", "description": "\x00"}):
            response = await client.post("/api/items", json=body)
            assert response.status_code == 422, response.text
        assert (await client.get("/api/items", params={"name": "\x00"})).status_code == 422

    @needs_database_server("only PostgreSQL refuses NUL characters in text (services mode)")
    async def test_text_postgresql_cannot_store_is_a_422_problem_not_a_500(
        self, settings: Settings
    ) -> None:
        def add_echo_route(app: FastAPI) -> None:
            async def echo(value: str, session: SessionDep) -> None:
                await session.execute(text("SELECT CAST(:value AS text)"), {"value": value})

            app.add_api_route("/echo", echo)

        async with running_client(settings, add_echo_route) as client:
            response = await client.get("/echo", params={"value": "a\x00b"})
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM
        assert "NUL" in response.json()["detail"]
