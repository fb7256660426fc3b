"""Storage trouble and shared storage. Security catalogue R01 (across processes), R06, R07, R10.

Ordinary routes fail open (served without a limit, a warning and a counter), strict routes
fail closed (503 + Retry-After); no request waits more than 2 x RATE_LIMIT_STORAGE_TIMEOUT
(1 s) on the limiter; limiting resumes by itself when Redis returns.
"""

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

from app.core.config import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.database import PROJECT_ROOT
from tests.outages import Relay, free_port
from tests.ratelimit.conftest import (
    ITEMS,
    PATIENT_STORAGE_TIMEOUT,
    PROBES,
    client,
    limits,
    started,
)

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # port 1: connection refused at once
# The bound is "about a second"; generous on purpose so a slow CI box cannot flake.
MAX_SECONDS_ON_OUTAGE = 2.0


async def timed(http: httpx2.AsyncClient, method: str, path: str) -> tuple[httpx2.Response, float]:
    started_at = time.perf_counter()
    response = await http.request(method, path)
    return response, time.perf_counter() - started_at


@pytest.fixture
async def blackhole_port() -> AsyncIterator[int]:
    """A port that accepts connections and never answers: a hung Redis or a dropped route."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    yield port
    server.close()
    for writer in held:
        writer.close()
    await server.wait_closed()


class TestRedisUnreachable:
    @pytest.mark.parametrize("kind", ["refused", "blackhole"])
    async def test_ordinary_routes_fail_open_and_strict_routes_fail_closed(
        self,
        settings: Settings,
        prefix: str,
        blackhole_port: int,
        kind: str,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        redis = UNREACHABLE_REDIS if kind == "refused" else f"redis://127.0.0.1:{blackhole_port}/0"
        broken = settings.model_copy(update={"redis_url": redis, "log_format": "json"})
        rate_limits = limits(prefix, default="1/minute", strict_routes=["login"])
        async with started(broken, rate_limits) as app, client(app) as http:
            ordinary = [await timed(http, "GET", ITEMS) for _ in range(3)]
            strict, strict_seconds = await timed(http, "POST", f"{PROBES}/login")
            live = await http.get("/health/live")
            metrics = (await http.get("/metrics")).text

        for response, seconds in ordinary:
            assert response.status_code == 200  # over the 1/minute limit: nothing is counted
            assert "ratelimit" not in response.headers
            assert seconds < MAX_SECONDS_ON_OUTAGE
        assert strict.status_code == 503
        assert strict.headers["content-type"] == "application/problem+json"
        assert strict.headers["retry-after"] == "5"
        assert strict_seconds < MAX_SECONDS_ON_OUTAGE
        assert live.status_code == 200
        assert 'rate_limit_storage_errors_total{outcome="allowed",policy="default"} 3.0' in metrics
        assert 'rate_limit_storage_errors_total{outcome="rejected",policy="login"} 1.0' in metrics
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
        warnings = [line for line in lines if line.get("event") == "rate_limit_storage_unavailable"]
        assert len(warnings) == 1  # one per outage, not one per request
        assert warnings[0]["level"] == "warning"
        assert warnings[0]["backend"] == "redis"


class TestRoundTrips:
    async def test_a_request_under_two_policies_costs_one_redis_round_trip(
        self,
        settings: Settings,
        prefix: str,
        real_redis_url: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        sent: list[object] = []
        send = AbstractConnection.send_packed_command

        async def counted(
            connection: AbstractConnection, command: Any, check_health: bool = True
        ) -> None:
            sent.append(command)
            await send(connection, command, check_health)

        with_redis = settings.model_copy(update={"redis_url": real_redis_url})
        rate_limits = limits(prefix, default="5/minute", tenant="3/minute")
        ping = f"{PROBES}/v1/ping"
        alice = {"X-Test-User": "alice;;t1"}
        async with started(with_redis, rate_limits) as app, client(app) as http:
            await http.get(ping, headers=alice)  # loads the script into Redis
            monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
            response = await http.get(ping, headers=alice)
            round_trips = len(sent)
            monkeypatch.undo()
        assert response.status_code == 200
        assert response.headers["ratelimit"].startswith('"default";r=3;t=')
        assert ', "tenant";r=1;t=' in response.headers["ratelimit"]
        assert round_trips == 1


class TestRedisComesBack:
    async def test_limiting_resumes_without_a_restart(
        self, settings: Settings, prefix: str, real_redis_url: str
    ) -> None:
        relay = Relay(real_redis_url)
        await relay.start()
        try:
            via_relay = settings.model_copy(update={"redis_url": relay.url})
            rate_limits = limits(prefix, default="2/minute", strict_routes=["login"])
            async with started(via_relay, rate_limits) as app, client(app) as http:
                assert [(await http.get(ITEMS)).status_code for _ in range(3)] == [200, 200, 429]

                await relay.stop()
                during, seconds = await timed(http, "GET", ITEMS)
                strict, _ = await timed(http, "POST", f"{PROBES}/login")
                assert during.status_code == 200  # fail open: the limit is not enforced
                assert seconds < MAX_SECONDS_ON_OUTAGE
                assert strict.status_code == 503

                await relay.start()
                deadline = time.monotonic() + 10
                statuses: list[int] = []
                while time.monotonic() < deadline:
                    response = await http.get(ITEMS)
                    statuses.append(response.status_code)
                    if "x-ratelimit-remaining" in response.headers:
                        break
                    await asyncio.sleep(0.1)
                # The counters survived in Redis: the client is still over its limit.
                assert statuses[-1] == 429, statuses
                assert (await http.post(f"{PROBES}/login")).status_code == 200
        finally:
            await relay.stop()


def _redis_url_or_skip(redis_url: str | None) -> str:
    if redis_url is None:
        pytest.skip("shared limits need Redis: set TEST_REDIS_URL (services mode)")
    return redis_url


class TestSharedRedis:
    async def test_two_apps_with_their_own_storage_enforce_one_limit(
        self, settings: Settings, prefix: str, redis_url: str | None
    ) -> None:
        _redis_url_or_skip(redis_url)
        rate_limits = limits(prefix, default="10/minute", storage_timeout=PATIENT_STORAGE_TIMEOUT)
        async with (
            started(settings, rate_limits) as first_app,
            started(settings, rate_limits) as second_app,
            client(first_app) as first,
            client(second_app) as second,
        ):
            responses = await asyncio.gather(*(http.get(ITEMS) for http in [first, second] * 25))
            metrics = [(await http.get("/metrics")).text for http in (first, second)]
        assert all("rate_limit_storage_errors_total{" not in text for text in metrics)
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [200] * 10 + [429] * 40

    async def test_every_key_expires(
        self, settings: Settings, prefix: str, redis_url: str | None
    ) -> None:
        url = _redis_url_or_skip(redis_url)
        async with started(settings, limits(prefix, default="5/minute")) as app:
            for ip in ("198.51.100.20", "198.51.100.21"):
                async with client(app, ip) as http:
                    await http.get(ITEMS, headers={"User-Agent": ip})
        redis = Redis.from_url(url)
        try:
            keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
            ttls = [await redis.ttl(key) for key in keys]
        finally:
            await redis.aclose()
        assert len(keys) == 2  # one per client and policy, nothing per path or user agent
        assert all(0 < ttl <= 60 for ttl in ttls), ttls


class TestTwoProcesses:
    async def test_two_servers_on_one_redis_admit_exactly_the_limit(
        self, database_url: str, prefix: str, redis_url: str | None
    ) -> None:
        url = _redis_url_or_skip(redis_url)
        env = {
            **os.environ,
            "ENVIRONMENT": "test",
            "SECRET_KEY": TEST_SECRET_KEY,
            "DATABASE_URL": database_url,
            "REDIS_URL": url,
            "RATE_LIMIT_DEFAULT": "10/minute",
            "RATE_LIMIT_STORAGE_TIMEOUT": str(PATIENT_STORAGE_TIMEOUT),
            "RATE_LIMIT_KEY_PREFIX": prefix,
            "LOG_LEVEL": "WARNING",
        }
        ports = [free_port(), free_port()]
        argv = [sys.executable, "-m", "fastapi", "run", "--host", "127.0.0.1", "--port"]
        servers = [
            await asyncio.create_subprocess_exec(
                *argv,
                str(port),
                cwd=PROJECT_ROOT,
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            for port in ports
        ]
        try:
            async with httpx2.AsyncClient(timeout=10) as http:
                for port in ports:
                    await _wait_until_live(http, f"http://127.0.0.1:{port}")
                responses = await asyncio.gather(
                    *(http.get(f"http://127.0.0.1:{port}{ITEMS}") for port in ports * 25)
                )
                metrics = [
                    (await http.get(f"http://127.0.0.1:{port}/metrics")).text for port in ports
                ]
        finally:
            for server in servers:
                if server.returncode is None:
                    server.send_signal(signal.SIGTERM)
            for server in servers:
                await asyncio.wait_for(server.wait(), timeout=15)
        assert all("rate_limit_storage_errors_total{" not in text for text in metrics)
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [200] * 10 + [429] * 40


async def _wait_until_live(http: httpx2.AsyncClient, base: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if (await http.get(f"{base}/health/live")).status_code == 200:
                return
        except httpx2.TransportError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.2)
