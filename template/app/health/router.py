import asyncio
import time
from collections.abc import Coroutine
from typing import Any, Literal

import structlog
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

logger = structlog.get_logger(__name__)
router = APIRouter(prefix="/health", tags=["health"])

CHECK_TIMEOUT_SECONDS = 3.0


class CheckResult(BaseModel):
    status: Literal["ok", "error"]
    latency_ms: float
    detail: str | None = None


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable", "draining"]
    checks: dict[str, CheckResult]


async def _run_check(probe: Coroutine[Any, Any, None]) -> CheckResult:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure means "not ready"; the type tells the operator why
        status: Literal["ok", "error"] = "error"
        detail: str | None = type(exc).__name__
        logger.warning("readiness_check_failed", error=detail)
    else:
        status, detail = "ok", None
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    return CheckResult(status=status, latency_ms=latency_ms, detail=detail)


async def _check_database(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _check_redis(redis: Redis) -> None:
    await redis.ping()


@router.get("/live")
async def live() -> Liveness:
    """The process is up and serving requests."""
    return Liveness(status="ok")


@router.get(
    "/ready",
    responses={503: {"model": Readiness, "description": "A dependency is down, or draining"}},
)
async def ready(request: Request, response: Response) -> Readiness:
    """The service can do useful work: its database (and Redis, when configured) answer.

    503 while draining after SIGTERM, so the load balancer stops sending new requests.
    """
    if request.state.drain.draining:
        response.status_code = 503
        return Readiness(status="draining", checks={})
    probes: dict[str, Coroutine[Any, Any, None]] = {
        "database": _check_database(request.state.engine)
    }
    if request.state.redis is not None:
        probes["redis"] = _check_redis(request.state.redis)
    names = list(probes)
    results = await asyncio.gather(*(_run_check(probe) for probe in probes.values()))
    checks = dict(zip(names, results, strict=True))
    healthy = all(check.status == "ok" for check in checks.values())
    if not healthy:
        response.status_code = 503
    return Readiness(status="ok" if healthy else "unavailable", checks=checks)
