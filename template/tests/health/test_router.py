import httpx2

from app.core.config import Settings
from tests.conftest import ClientFactory, running_client
from tests.outages import Relay, recovers


async def test_live_answers_while_the_process_runs(client: httpx2.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_checks_the_database(client: httpx2.AsyncClient, redis_url: str | None) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert ("redis" in body["checks"]) is (redis_url is not None)


async def test_ready_is_503_when_the_database_is_unreachable(client_for: ClientFactory) -> None:
    async with client_for(database_url="sqlite+aiosqlite:////nonexistent/dir/app.db") as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["status"] == "error"
    assert body["checks"]["database"]["detail"]


async def test_ready_is_503_when_redis_is_unreachable(settings: Settings) -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    # Anonymous, as probes are: with auth, a token would be refused first (it cannot be
    # checked against revocations without Redis).
    redis_down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    async with running_client(redis_down, anonymous=True) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["redis"]["status"] == "error"
    assert checks["redis"]["latency_ms"] < 5000


async def test_ready_follows_redis_down_and_back_without_a_restart(
    redis_relay: tuple[Relay, Settings],
) -> None:
    relay, via_relay = redis_relay
    async with running_client(via_relay, anonymous=True) as client:
        assert (await client.get("/health/ready")).status_code == 200

        await relay.stop()
        down = await client.get("/health/ready")
        assert down.status_code == 503
        assert down.json()["checks"]["redis"]["status"] == "error"
        assert (await client.get("/health/live")).status_code == 200

        await relay.start()
        assert await recovers(lambda: client.get("/health/ready"), 200) == 200
