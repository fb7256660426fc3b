"""The README recipe, run: add v3, deprecate v2, retire v1, with the functions the app uses."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx2
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI

from app.core.config import Settings
from app.core.errors import install_error_handlers
from app.core.lifespan import build_lifespan
from app.items.router import router as items_router
from app.versioning.middleware import install_api_versioning
from app.versioning.registry import ApiVersions
from app.versioning.v2.items import router as v2_items_router
from tests.conftest import BASE_URL, credentials, identity_installers
from tests.versioning.conftest import versioning_settings

# A feature router that every version serves unchanged (like `routes` in app/api.py).
shared = APIRouter(prefix="/ping", tags=["ping"])


@shared.get("")
async def ping() -> dict[str, str]:
    return {"pong": "ok"}


def three_versions() -> tuple[APIRouter, ApiVersions]:
    """What app/api.py and app/versioning/versions.py look like after the recipe: v3 keeps
    v2's items contract (a version only gets new code for what it changes)."""
    api_router = APIRouter(prefix="/api")
    versions = ApiVersions("v1", "v2", "v3")
    versions["v1"].include_router(items_router)
    versions["v2"].include_router(v2_items_router)
    versions["v3"].include_router(v2_items_router)
    versions.include_in_every_version(shared)
    versions.mount(api_router, unversioned_alias="v1")
    return api_router, versions


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx2.AsyncClient]:
    """An app assembled as app/main.py does, with v2 deprecated and v1 retired."""
    api_router, versions = three_versions()
    app = FastAPI(lifespan=build_lifespan(settings))
    install_error_handlers(app)
    app.include_router(api_router)
    policy = versions.policy(
        versioning_settings(
            deprecated={
                "v1": datetime(2026, 1, 1, tzinfo=UTC),
                "v2": datetime(2026, 6, 1, tzinfo=UTC),
            },
            sunset={"v2": datetime(2027, 6, 1, tzinfo=UTC)},
            retired=["v1"],
        )
    )
    install_api_versioning(app, policy)
    for install in identity_installers:
        install(app, settings)
    async with (
        LifespanManager(app) as manager,
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=manager.app), base_url=BASE_URL) as c,
    ):
        c.headers.update(await credentials(settings))
        yield c


async def test_v3_serves_and_v2_points_to_it(client: httpx2.AsyncClient) -> None:
    created = await client.post("/api/v3/items", json={"title": "Widget", "price": "1.00"})
    assert created.status_code == 201
    assert "deprecation" not in created.headers
    via_v2 = await client.get(f"/api/v2/items/{created.json()['id']}")
    assert via_v2.json() == created.json()
    assert via_v2.headers["deprecation"] == f"@{int(datetime(2026, 6, 1, tzinfo=UTC).timestamp())}"
    assert via_v2.headers["sunset"] == "Tue, 01 Jun 2027 00:00:00 GMT"
    assert (
        f'</api/v3/items/{created.json()["id"]}>; rel="successor-version"'
        in (via_v2.headers["link"])
    )
    assert (await client.get("/api/v3/ping")).json() == {"pong": "ok"}


async def test_v1_is_gone_and_points_to_v2(client: httpx2.AsyncClient) -> None:
    for path in ("/api/v1/items", "/api/v1/ping", "/api/items"):
        response = await client.get(path)
        assert response.status_code == 410, path
        assert response.headers["content-type"] == "application/problem+json"
        assert "/api/v2/" in response.headers["link"]


async def test_discovery_and_documents_follow(client: httpx2.AsyncClient) -> None:
    versions = (await client.get("/api/versions")).json()["versions"]
    assert [(v["name"], v["status"], v["successor"]) for v in versions] == [
        ("v1", "retired", "v2"),
        ("v2", "deprecated", "v3"),
        ("v3", "current", None),
    ]
    document = (await client.get("/api/v3/openapi.json")).json()
    assert set(document["paths"]) == {"/api/v3/items", "/api/v3/items/{item_id}", "/api/v3/ping"}
