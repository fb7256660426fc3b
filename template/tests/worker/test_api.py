"""Exports over HTTP, run end to end by a real worker: 202 + Location, status, download,
owner-only access, caller context inside the task (C11), 503 when the broker is down (C06)."""

import asyncio
import csv
import importlib.util
import io
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.config import Settings
from app.core.principal import Principal
from app.core.tenant import tenant_scope
from app.worker import TaskQueue
from app.worker.db import worker_session
from app.worker.models import ItemExport, WelcomeMessage
from tests.conftest import running_client
from tests.worker.conftest import OUTCOME_DEADLINE, WorkerProcess, wait_for
from tests.worker.plugin import delete_queue
from tests.worker.probe_tasks import CONTEXT

AUTH = importlib.util.find_spec("app.auth") is not None
# The stand-in callers below name made-up tenants; with the real multi_tenancy installed those
# do not exist (T10 in test_tasks.py covers tasks in real tenants).
needs_stand_in_tenants = pytest.mark.skipif(
    importlib.util.find_spec("app.tenancy") is not None,
    reason="made-up tenants; multi_tenancy is installed (see test_tasks.py T10)",
)
# With the real auth the client's token decides who calls, not the stand-in's header.
needs_stand_in_callers = pytest.mark.skipif(
    AUTH or importlib.util.find_spec("app.tenancy") is not None,
    reason="made-up callers; auth or multi_tenancy is installed (see test_tasks.py)",
)

EXPORTS = "/api/exports/items"
DONE = {"success", "failure"}
# Nothing listens on port 1: connecting fails at once, like a broker that is down.
DEAD_BROKER = "redis://127.0.0.1:1/0"


class CallerFromHeader:
    """Test stand-in for auth and tenancy: X-Test-Caller: subject;tenant."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        value = dict(scope.get("headers", [])).get(b"x-test-caller")
        if scope["type"] != "http" or value is None:
            await self.app(scope, receive, send)
            return
        subject, tenant = [*value.decode().split(";"), ""][:2]
        principal = Principal(subject=subject, tenant_id=tenant or None)
        scope["state"] = {**scope.get("state", {}), "principal": principal}
        with ExitStack() as stack:
            if tenant:
                stack.enter_context(tenant_scope(tenant))
            await self.app(scope, receive, send)


def with_callers(app: FastAPI) -> None:
    app.add_middleware(CallerFromHeader)


def caller(subject: str, tenant: str = "") -> dict[str, str]:
    return {"X-Test-Caller": f"{subject};{tenant}"}


@pytest.fixture
async def api(settings: Settings, worker: WorkerProcess) -> AsyncIterator[httpx2.AsyncClient]:
    async with running_client(settings, with_callers) as client:
        yield client


async def wait_until_done(
    client: httpx2.AsyncClient, location: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    # Backing off to one poll a second keeps a slow worker from pushing the status polls
    # over the API's rate limit (with rate_limiting on).
    seen: list[str] = []
    delay = 0.1
    deadline = time.monotonic() + OUTCOME_DEADLINE
    while time.monotonic() < deadline:
        response = await client.get(location, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        seen.append(body["status"])
        if body["status"] in DONE:
            return body
        await asyncio.sleep(delay)
        delay = min(1.0, delay * 1.5)
    raise AssertionError(f"the export never finished; statuses seen: {sorted(set(seen))}")


async def create_items(client: httpx2.AsyncClient, *names: str) -> None:
    for name in names:
        response = await client.post(
            "/api/items", json={"name": name, "price": "2.50", "quantity": 3}
        )
        assert response.status_code == 201, response.text


async def test_export_runs_in_the_worker_and_is_downloadable(api: httpx2.AsyncClient) -> None:
    await create_items(api, "apple", '=HYPERLINK("http://evil")')

    started = await api.post(EXPORTS)

    assert started.status_code == 202
    body = started.json()
    assert body["status"] == "pending"
    assert started.headers["Location"] == f"/api/exports/{body['id']}"
    done = await wait_until_done(api, started.headers["Location"])
    assert done["status"] == "success", done
    assert done["rows"] == 2
    download = await api.get(done["download"])
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [row["name"] for row in rows] == ["apple", '\'=HYPERLINK("http://evil")']


async def test_unfinished_export_is_pending_and_not_downloadable(
    settings: Settings,
    celery_env: dict[str, str],
    redis_url: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    idle_queue = f"{celery_env['CELERY_QUEUE']}-idle"  # no worker consumes it
    monkeypatch.setenv("CELERY_QUEUE", idle_queue)
    try:
        async with running_client(settings) as client:
            started = await client.post(EXPORTS)
            location = started.headers["Location"]
            status = await client.get(location)
            download = await client.get(f"{location}/download")
    finally:
        if redis_url is not None:
            delete_queue(redis_url, idle_queue)

    assert started.status_code == 202
    assert status.json()["status"] == "pending"
    assert download.status_code == 409


@needs_stand_in_callers
async def test_only_the_caller_sees_an_export(api: httpx2.AsyncClient) -> None:
    started = await api.post(EXPORTS, headers=caller("alice", "t1"))
    location = started.headers["Location"]
    done = await wait_until_done(api, location, caller("alice", "t1"))
    assert done["status"] == "success"

    # Tenants are multi_tenancy's: with it installed, test_tasks.py (T10) and the tenancy
    # tests show another tenant's rows are never loaded.
    for stranger in (caller("mallory", "t1"), {}):
        assert (await api.get(location, headers=stranger)).status_code == 404
        assert (await api.get(done["download"], headers=stranger)).status_code == 404
    assert (await api.get(done["download"], headers=caller("alice", "t1"))).status_code == 200


async def test_unknown_export_is_404(api: httpx2.AsyncClient) -> None:
    response = await api.get("/api/exports/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@needs_stand_in_tenants
def test_tenant_context_in_tasks(worker: WorkerProcess, task_queue: TaskQueue) -> None:
    """C11: the worker runs the task as the caller that queued it."""
    with tenant_scope("t1"):
        task_queue.publish(CONTEXT, "ctx-" + "1" * 32, [], Principal(subject="alice"))
    anonymous_id = "ctx-" + "2" * 32
    task_queue.publish(CONTEXT, anonymous_id, [], principal=None)

    result = task_queue.celery.AsyncResult("ctx-" + "1" * 32).get(timeout=OUTCOME_DEADLINE)
    anonymous = task_queue.celery.AsyncResult(anonymous_id).get(timeout=OUTCOME_DEADLINE)

    assert result == {"subject": "alice", "tenant_id": "t1"}
    assert anonymous == {"subject": None, "tenant_id": None}


async def test_broker_down_is_503_and_nothing_is_left_pending(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """C06: never 202 for a task the broker did not take."""
    monkeypatch.setenv("CELERY_BROKER_URL", DEAD_BROKER)
    async with running_client(settings) as client:
        response = await client.post(EXPORTS)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.headers["content-type"] == "application/problem+json"
    with worker_session(settings.database_url, settings.database_statement_timeout_ms) as session:
        assert session.scalar(select(func.count()).select_from(ItemExport)) == 0


@pytest.mark.skipif(not AUTH, reason="nobody registers without the auth feature")
async def test_a_registration_queues_one_welcome_message(
    api: httpx2.AsyncClient, settings: Settings
) -> None:
    """auth x celery: `user.registered` (published by auth) runs the welcome task once."""
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    body = {"email": email, "password": "correct horse battery staple"}
    registered = await api.post("/api/auth/register", json=body, headers={"Authorization": ""})
    assert registered.status_code == 201, registered.text
    user_id = registered.json()["id"]

    def welcomed() -> int:
        with worker_session(settings.database_url, 5_000) as session:
            query = select(func.count()).where(WelcomeMessage.user_id == user_id)
            return int(session.scalar(query) or 0)

    await asyncio.to_thread(wait_for, lambda: welcomed() == 1, "the welcome message")
