"""Limits, keys and headers, through HTTP, on the storage of this run (memory, or the real
Redis at TEST_REDIS_URL). Security catalogue R01, R03, R04, R09."""

import asyncio
import json
import re
import time
from typing import Any

import httpx2
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import ValidationError

from app.core.config import Settings
from app.main import create_app
from app.ratelimit import RateLimitSettings, enforce_rate_limit
from tests.ratelimit.conftest import (
    CLIENT_IP,
    ITEMS,
    OTHER_IP,
    PATIENT_STORAGE_TIMEOUT,
    PROBES,
    client,
    limits,
    started,
)

PROBLEM = "application/problem+json"
RATE_LIMIT = re.compile(r'^"(?P<policy>[^"]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')


async def spend(http: httpx2.AsyncClient, count: int, path: str = ITEMS) -> list[int]:
    return [(await http.get(path)).status_code for _ in range(count)]


class TestHeadersAnd429:
    async def test_allowed_response_describes_the_policy(
        self, settings: Settings, prefix: str
    ) -> None:
        async with started(settings, limits(prefix)) as app, client(app) as http:
            before = int(time.time())
            response = await http.get(ITEMS)
        assert response.status_code == 200
        assert response.headers["ratelimit-policy"] == '"default";q=10;w=60'
        match = RATE_LIMIT.match(response.headers["ratelimit"])
        assert match is not None, response.headers["ratelimit"]
        assert match["policy"] == "default"
        assert match["r"] == "9"
        assert 1 <= int(match["t"]) <= 60
        assert response.headers["x-ratelimit-limit"] == "10"
        assert response.headers["x-ratelimit-remaining"] == "9"
        assert before < int(response.headers["x-ratelimit-reset"]) <= before + 61

    async def test_over_the_limit_is_a_429_problem_with_retry_after(
        self, settings: Settings, prefix: str
    ) -> None:
        async with (
            started(settings, limits(prefix, default="3/minute")) as app,
            client(app) as http,
        ):
            statuses = await spend(http, 3)
            refused = await http.get(ITEMS)
        assert statuses == [200, 200, 200]
        assert refused.status_code == 429
        assert refused.headers["content-type"] == PROBLEM
        body = refused.json()
        assert body["status"] == 429
        assert body["title"] == "Too Many Requests"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert refused.headers["ratelimit"].startswith('"default";r=0;t=')
        assert refused.headers["x-request-id"] == body["request_id"]

    async def test_other_responses_carry_the_headers_too(
        self, settings: Settings, prefix: str
    ) -> None:
        async with started(settings, limits(prefix)) as app, client(app) as http:
            missing = await http.get(f"{ITEMS}/00000000-0000-4000-8000-000000000000")
            invalid = await http.get(f"{ITEMS}/not-a-uuid")
        assert missing.status_code == 404
        assert missing.headers["x-ratelimit-remaining"] == "9"
        assert invalid.status_code == 422
        assert invalid.headers["x-ratelimit-remaining"] == "8"

    async def test_the_429_is_documented_on_every_api_operation(
        self, settings: Settings, prefix: str
    ) -> None:
        async with started(settings, limits(prefix)) as app, client(app) as http:
            schema = (await http.get("/openapi.json")).json()
        api_operations = [
            (path, operation)
            for path, operations in schema["paths"].items()
            if path.startswith("/api")
            for operation in operations.values()
        ]
        assert api_operations
        for path, operation in api_operations:
            assert "429" in operation["responses"], path
            assert PROBLEM in operation["responses"]["429"]["content"], path
        for path, operations in schema["paths"].items():
            if path.startswith("/health"):
                assert all("429" not in op["responses"] for op in operations.values()), path


class TestCoverage:
    def test_every_api_route_and_nothing_else_is_limited(self, settings: Settings) -> None:
        app = create_app(settings)
        seen_api_route = False
        for route in iter_route_contexts(app.routes):
            if not isinstance(route.original_route, APIRoute):
                continue
            path = route.path or ""
            calls = {dependency.dependency for dependency in route.dependencies}
            limited = enforce_rate_limit in calls
            if path.startswith("/api/"):
                seen_api_route = True
                assert limited, f"{path} is not rate limited"
            else:
                assert not limited, f"{path} must never be rate limited"
        assert seen_api_route

    async def test_health_and_metrics_are_never_limited(
        self, settings: Settings, prefix: str
    ) -> None:
        async with (
            started(settings, limits(prefix, default="1/minute")) as app,
            client(app) as http,
        ):
            assert (await http.get(ITEMS)).status_code == 200
            assert (await http.get(ITEMS)).status_code == 429
            for path in ("/health/live", "/health/ready", "/metrics") * 5:
                response = await http.get(path)
                assert response.status_code == 200, path
                assert "ratelimit" not in response.headers, path

    async def test_nested_routers_are_limited(self, settings: Settings, prefix: str) -> None:
        async with (
            started(settings, limits(prefix, default="2/minute")) as app,
            client(app) as http,
        ):
            statuses = await spend(http, 3, f"{PROBES}/v1/ping")
        assert statuses == [200, 200, 429]


class TestPolicies:
    async def test_an_override_by_route_name_covers_every_path_of_the_route(
        self, settings: Settings, prefix: str
    ) -> None:
        rate_limits = limits(prefix, routes={"ping": "3/minute"})
        async with started(settings, rate_limits) as app, client(app) as http:
            v1 = await spend(http, 2, f"{PROBES}/v1/ping")
            v2 = await spend(http, 2, f"{PROBES}/v2/ping")
            last = await http.get(f"{PROBES}/v1/ping")
            other = await http.get(ITEMS)
        assert v1 + v2 == [200, 200, 200, 429]
        assert last.headers["ratelimit-policy"] == '"ping";q=3;w=60'
        # The override has its own counter: the default budget is untouched.
        assert other.status_code == 200
        assert other.headers["x-ratelimit-remaining"] == "9"

    async def test_an_override_for_an_unknown_route_is_reported_at_start_up(
        self, settings: Settings, prefix: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        json_logs = settings.model_copy(update={"log_format": "json"})
        rate_limits = limits(prefix, routes={"ping": "3/minute", "create_itme": "1/minute"})
        async with started(json_logs, rate_limits):
            pass
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
        warnings = [line for line in lines if line.get("event") == "rate_limit_unknown_routes"]
        assert [warning["routes"] for warning in warnings] == [["create_itme"]]

    async def test_strict_routes_get_the_strict_limit(
        self, settings: Settings, prefix: str
    ) -> None:
        rate_limits = limits(prefix, strict="2/minute", strict_routes=["login"])
        async with started(settings, rate_limits) as app, client(app) as http:
            statuses = [(await http.post(f"{PROBES}/login")).status_code for _ in range(3)]
            other = await http.get(ITEMS)
        assert statuses == [200, 200, 429]
        assert other.status_code == 200

    async def test_disabled_limits_nothing(self, settings: Settings, prefix: str) -> None:
        rate_limits = limits(prefix, enabled=False, default="1/minute")
        async with started(settings, rate_limits) as app, client(app) as http:
            responses = [await http.get(ITEMS) for _ in range(3)]
        assert [response.status_code for response in responses] == [200, 200, 200]
        assert "ratelimit" not in responses[0].headers

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("default", "100 per banana"),
            ("strict", "0/minute"),
            ("tenant", "lots"),
            ("routes", {"ping": "often"}),
        ],
    )
    def test_invalid_limits_stop_the_start_with_a_clear_message(
        self, field: str, value: Any
    ) -> None:
        values: dict[str, Any] = {field: value}
        with pytest.raises(ValidationError, match="RATE_LIMIT_"):
            RateLimitSettings(_env_file=None, **values)


class TestKeys:
    async def test_clients_have_separate_budgets(self, settings: Settings, prefix: str) -> None:
        async with (
            started(settings, limits(prefix, default="2/minute")) as app,
            client(app, CLIENT_IP) as first,
            client(app, OTHER_IP) as second,
        ):
            assert await spend(first, 3) == [200, 200, 429]
            assert await spend(second, 2) == [200, 200]

    @pytest.mark.parametrize(
        "header",
        ["X-Forwarded-For", "X_Forwarded_For", "X-Real-IP", "Forwarded", "True-Client-IP"],
    )
    async def test_spoofed_forwarding_headers_do_not_rotate_the_key(
        self, settings: Settings, prefix: str, header: str
    ) -> None:
        # The peer is not in FORWARDED_ALLOW_IPS, so whatever it claims is ignored.
        async with (
            started(settings, limits(prefix, default="3/minute")) as app,
            client(app) as http,
        ):
            statuses = []
            for n in range(20):
                spoofed = f"for=203.0.113.{n}" if header == "Forwarded" else f"203.0.113.{n}"
                statuses.append((await http.get(ITEMS, headers={header: spoofed})).status_code)
        assert statuses == [200] * 3 + [429] * 17

    async def test_a_trusted_proxy_supplies_the_real_client(
        self, settings: Settings, prefix: str
    ) -> None:
        proxy = "10.0.0.5"
        trusting = settings.model_copy(update={"forwarded_allow_ips": [proxy]})
        async with (
            started(trusting, limits(prefix, default="2/minute")) as app,
            client(app, proxy) as lb,
        ):
            # The right-most address the trusted proxy appended is the client; what the
            # client wrote before it is attacker-controlled and must not matter.
            statuses = [
                (
                    await lb.get(ITEMS, headers={"X-Forwarded-For": f"6.6.6.{n}, {CLIENT_IP}"})
                ).status_code
                for n in range(3)
            ]
            other = await lb.get(ITEMS, headers={"X-Forwarded-For": OTHER_IP})
        assert statuses == [200, 200, 429]
        assert other.status_code == 200

    async def test_an_authenticated_user_is_one_key_from_any_address(
        self, settings: Settings, prefix: str
    ) -> None:
        async with (
            started(settings, limits(prefix, default="2/minute")) as app,
            client(app, CLIENT_IP) as home,
            client(app, OTHER_IP) as office,
        ):
            # A probe route: stand-in users without a tenant reach it in every combination.
            ping = f"{PROBES}/v1/ping"
            alice = {"X-Test-User": "alice"}
            assert (await home.get(ping, headers=alice)).status_code == 200
            assert (await office.get(ping, headers=alice)).status_code == 200
            assert (await home.get(ping, headers=alice)).status_code == 429
            # Another user behind the same address has a budget of their own.
            assert (await home.get(ping, headers={"X-Test-User": "bob"})).status_code == 200
            # And so does the anonymous traffic of that address.
            assert (await home.get(ping)).status_code == 200

    async def test_a_tenant_quota_is_shared_by_the_tenants_users(
        self, settings: Settings, prefix: str
    ) -> None:
        rate_limits = limits(prefix, default="5/minute", tenant="3/minute")
        # A probe route: the made-up tenants t1 and t2 exist for no other feature.
        ping = f"{PROBES}/v1/ping"
        async with started(settings, rate_limits) as app, client(app) as http:
            alice, bob = {"X-Test-User": "alice;;t1"}, {"X-Test-User": "bob;;t1"}
            first = await http.get(ping, headers=alice)
            statuses = [(await http.get(ping, headers=who)).status_code for who in (alice, bob)]
            refused = await http.get(ping, headers=bob)
            other_tenant = await http.get(ping, headers={"X-Test-User": "carol;;t2"})
            no_tenant = await http.get(ping, headers={"X-Test-User": "dave"})
        assert first.status_code == 200
        assert first.headers["ratelimit-policy"] == '"default";q=5;w=60, "tenant";q=3;w=60'
        assert first.headers["ratelimit"].startswith('"default";r=4;t=')
        assert ', "tenant";r=2;t=' in first.headers["ratelimit"]
        assert first.headers["x-ratelimit-limit"] == "3"  # the policy closest to refusing
        assert statuses == [200, 200]
        assert refused.status_code == 429
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert other_tenant.status_code == 200
        assert no_tenant.status_code == 200
        assert no_tenant.headers["ratelimit-policy"] == '"default";q=5;w=60'

    async def test_a_refused_request_spends_no_tenant_quota(
        self, settings: Settings, prefix: str
    ) -> None:
        rate_limits = limits(prefix, default="1/minute", tenant="3/minute")
        ping = f"{PROBES}/v1/ping"
        async with started(settings, rate_limits) as app, client(app) as http:
            alice, bob = {"X-Test-User": "alice;;t1"}, {"X-Test-User": "bob;;t1"}
            statuses = [(await http.get(ping, headers=alice)).status_code for _ in range(3)]
            response = await http.get(ping, headers=bob)
        assert statuses == [200, 429, 429]
        assert response.status_code == 200
        # Alice's one admitted request and Bob's: the refused two did not count.
        assert ', "tenant";r=1;t=' in response.headers["ratelimit"]

    async def test_exempt_roles_are_not_limited(self, settings: Settings, prefix: str) -> None:
        async with (
            started(settings, limits(prefix, default="1/minute")) as app,
            client(app) as http,
        ):
            ping = f"{PROBES}/v1/ping"
            admin = {"X-Test-User": "root;staff,admin"}
            responses = [await http.get(ping, headers=admin) for _ in range(5)]
            user = await spend(http, 2, ping)
        assert [response.status_code for response in responses] == [200] * 5
        assert "ratelimit" not in responses[0].headers
        assert user == [200, 429]


class TestConcurrency:
    async def test_exactly_the_limit_is_admitted_under_concurrency(
        self, settings: Settings, prefix: str
    ) -> None:
        async with (
            started(
                settings,
                limits(prefix, default="10/minute", storage_timeout=PATIENT_STORAGE_TIMEOUT),
            ) as app,
            client(app) as http,
        ):
            responses = await asyncio.gather(*(http.get(ITEMS) for _ in range(50)))
            metrics = (await http.get("/metrics")).text
        assert "rate_limit_storage_errors_total{" not in metrics  # nothing was let through
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [200] * 10 + [429] * 40
