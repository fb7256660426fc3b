"""Deprecation headers exactly on v1, 410 for a retired version, discovery, docs per version."""

import uuid
from typing import Any

import httpx2
import pytest

from tests.versioning.conftest import DEPRECATED, VersionedClientFactory

PROBLEM = "application/problem+json"
DEPRECATION = f"@{int(DEPRECATED.timestamp())}"
SUNSET_HTTP_DATE = "Fri, 15 Jan 2027 12:00:00 GMT"
VERSIONING_HEADERS = ("deprecation", "sunset", "link")


def links(response: httpx2.Response) -> list[str]:
    return [
        link.strip() for value in response.headers.get_list("link") for link in value.split(",")
    ]


def assert_deprecated(response: httpx2.Response, successor: str) -> None:
    assert response.headers["deprecation"] == DEPRECATION
    assert response.headers["sunset"] == SUNSET_HTTP_DATE
    assert f'<{successor}>; rel="successor-version"' in links(response)
    assert '</api/versions>; rel="deprecation"' in links(response)


def assert_not_deprecated(response: httpx2.Response) -> None:
    present = [name for name in VERSIONING_HEADERS if name in response.headers]
    assert present == [], f"{response.request.url.path}: {present}"


def an_item(**overrides: Any) -> dict[str, Any]:
    return {"name": "Widget", "price": "12.50"} | overrides


class TestDeprecationHeaders:
    async def test_every_kind_of_v1_response_carries_them(
        self, versioned_client_for: VersionedClientFactory
    ) -> None:
        async with versioned_client_for() as client:
            created = await client.post("/api/v1/items", json=an_item())
            item_path = f"/api/v1/items/{created.json()['id']}"
            responses = {
                "created": created,
                "read": await client.get(item_path),
                "not modified": await client.get(item_path, headers={"If-None-Match": '"1"'}),
                "list": await client.get("/api/v1/items"),
                "not found": await client.get(f"/api/v1/items/{uuid.uuid4()}"),
                "invalid": await client.post("/api/v1/items", json={"name": ""}),
                "precondition": await client.patch(
                    item_path, json={"quantity": 1}, headers={"If-Match": '"9"'}
                ),
                "unknown path": await client.get("/api/v1/nothing/here"),
            }
        assert [r.status_code for r in responses.values()] == [
            201,
            200,
            304,
            200,
            404,
            422,
            412,
            404,
        ]
        for response in responses.values():
            assert_deprecated(
                response, successor=response.request.url.path.replace("/v1/", "/v2/", 1)
            )

    async def test_the_successor_link_names_the_same_resource(
        self, versioned_client_for: VersionedClientFactory
    ) -> None:
        async with versioned_client_for() as client:
            item = (await client.post("/api/v1/items", json=an_item())).json()
            response = await client.get(f"/api/v1/items/{item['id']}")
            successor = await client.get(f"/api/v2/items/{item['id']}")
        assert f'</api/v2/items/{item["id"]}>; rel="successor-version"' in links(response)
        assert successor.status_code == 200

    async def test_a_non_ascii_path_gets_an_encoded_link(
        self, versioned_client_for: VersionedClientFactory
    ) -> None:
        # Found by the fuzzer: header values must stay ASCII whatever the request path holds.
        async with versioned_client_for() as client:
            response = await client.get("/api/v1/items/caf\u00e9")
        assert response.status_code == 422
        assert '</api/v2/items/caf%C3%A9>; rel="successor-version"' in links(response)

    async def test_the_unversioned_alias_is_v1_and_says_so(
        self, versioned_client_for: VersionedClientFactory
    ) -> None:
        async with versioned_client_for() as client:
            response = await client.get("/api/items")
        assert response.status_code == 200
        assert_deprecated(response, successor="/api/v2/items")

    @pytest.mark.parametrize(
        "path", ["/api/v2/items", "/api/v2/missing", "/api/versions", "/health/live", "/metrics"]
    )
    async def test_nothing_else_carries_them(
        self, versioned_client_for: VersionedClientFactory, path: str
    ) -> None:
        async with versioned_client_for() as client:
            await client.get("/api/items")  # the alias marks its own request only
            response = await client.get(path)
        assert response.status_code in {200, 404}
        assert_not_deprecated(response)

    async def test_dates_and_link_come_from_settings(
        self, versioned_client_for: VersionedClientFactory
    ) -> None:
        async with versioned_client_for(
            deprecated={"v1": "2030-02-01T00:00:00+01:00"},
            sunset={},
            deprecation_url="https://example.com/api/deprecations",
        ) as client:
            response = await client.get("/api/v1/items")
        assert response.headers["deprecation"] == "@1896130800"
        assert "sunset" not in response.headers
        assert '<https://example.com/api/deprecations>; rel="deprecation"' in links(response)

    async def test_without_a_deprecation_date_v1_is_plainly_supported(
        self, versioned_client_for: VersionedClientFactory
    ) -> None:
        async with versioned_client_for(deprecated={}, sunset={}) as client:
            response = await client.get("/api/v1/items")
            versions = (await client.get("/api/versions")).json()["versions"]
            schema = (await client.get("/openapi.json")).json()
        assert_not_deprecated(response)
        assert [v["status"] for v in versions] == ["supported", "current"]
        assert "deprecated" not in schema["paths"]["/api/v1/items"]["get"]


class TestRetiredVersion:
    @pytest.mark.parametrize(
        ("method", "path", "successor"),
        [
            ("GET", "/api/v1/items", "/api/v2/items"),
            ("POST", "/api/v1/items", "/api/v2/items"),
            ("DELETE", f"/api/v1/items/{uuid.UUID(int=7)}", f"/api/v2/items/{uuid.UUID(int=7)}"),
            ("GET", "/api/v1/no/such/route", "/api/v2/no/such/route"),
            ("GET", "/api/v1/docs", "/api/v2/docs"),
            ("GET", "/api/v1", "/api/v2"),
            ("GET", "/api/items", "/api/v2/items"),  # the unversioned alias retires with v1
        ],
    )
    async def test_every_path_answers_410_pointing_to_the_successor(
        self, versioned_client_for: VersionedClientFactory, method: str, path: str, successor: str
    ) -> None:
        async with versioned_client_for(retired=["v1"]) as client:
            response = await client.request(method, path, json=an_item())
            remaining = (await client.get("/api/v2/items")).json()["data"]
        assert response.status_code == 410
        assert response.headers["content-type"] == PROBLEM
        body = response.json()
        assert body["status"] == 410
        assert successor in body["detail"]
        assert links(response) == [f'<{successor}>; rel="successor-version"']
        assert "deprecation" not in response.headers
        assert remaining == []  # nothing ran behind the 410

    async def test_the_successor_keeps_working(
        self, versioned_client_for: VersionedClientFactory
    ) -> None:
        async with versioned_client_for(retired=["v1"]) as client:
            created = await client.post("/api/v2/items", json={"title": "Widget", "price": "1.00"})
            versions = (await client.get("/api/versions")).json()["versions"]
        assert created.status_code == 201
        assert_not_deprecated(created)
        assert versions[0]["status"] == "retired"
        assert versions[0]["docs_url"] is None


class TestDiscovery:
    async def test_lists_versions_with_status_and_dates(
        self, versioned_client_for: VersionedClientFactory
    ) -> None:
        async with versioned_client_for() as client:
            response = await client.get("/api/versions")
        assert response.status_code == 200
        assert response.json()["versions"] == [
            {
                "name": "v1",
                "status": "deprecated",
                "path": "/api/v1",
                "deprecated_at": "2026-01-15T12:00:00Z",
                "sunset_at": "2027-01-15T12:00:00Z",
                "successor": "v2",
                "openapi_url": "/api/v1/openapi.json",
                "docs_url": "/api/v1/docs",
            },
            {
                "name": "v2",
                "status": "current",
                "path": "/api/v2",
                "deprecated_at": None,
                "sunset_at": None,
                "successor": None,
                "openapi_url": "/api/v2/openapi.json",
                "docs_url": "/api/v2/docs",
            },
        ]

    async def test_filters_by_status(self, client: httpx2.AsyncClient) -> None:
        current = (await client.get("/api/versions", params={"status": "current"})).json()
        assert [v["name"] for v in current["versions"]] == ["v2"]
        invalid = await client.get("/api/versions", params={"status": "sideways"})
        assert invalid.status_code == 422
        assert invalid.headers["content-type"] == PROBLEM

    async def test_the_default_settings_deprecate_v1(self, client: httpx2.AsyncClient) -> None:
        versions = (await client.get("/api/versions")).json()["versions"]
        assert [(v["name"], v["status"]) for v in versions] == [
            ("v1", "deprecated"),
            ("v2", "current"),
        ]
        assert "deprecation" in (await client.get("/api/v1/items")).headers


class TestDocsPerVersion:
    @pytest.mark.parametrize(("version", "other"), [("v1", "v2"), ("v2", "v1")])
    async def test_each_version_has_its_own_openapi_document(
        self, versioned_client_for: VersionedClientFactory, version: str, other: str
    ) -> None:
        async with versioned_client_for() as client:
            response = await client.get(f"/api/{version}/openapi.json")
        assert response.status_code == 200
        document = response.json()
        assert document["info"]["version"] == version
        assert document["paths"]
        assert all(path.startswith(f"/api/{version}/") for path in document["paths"])
        operations = [op for ops in document["paths"].values() for op in ops.values()]
        assert all(op.get("deprecated", False) is (version == "v1") for op in operations)
        schemas = set(document["components"]["schemas"])
        own, foreign = ("ItemRead", "ItemV2") if version == "v1" else ("ItemV2", "ItemRead")
        assert own in schemas
        assert foreign not in schemas
        assert f"/api/{other}/items" not in document["paths"]

    async def test_the_app_document_marks_v1_deprecated(
        self, versioned_client_for: VersionedClientFactory
    ) -> None:
        async with versioned_client_for() as client:
            paths = (await client.get("/openapi.json")).json()["paths"]
        assert paths["/api/v1/items"]["get"]["deprecated"] is True
        assert paths["/api/v1/items/{item_id}"]["patch"]["deprecated"] is True
        assert "deprecated" not in paths["/api/v2/items"]["get"]
        assert "deprecated" not in paths["/api/versions"]["get"]

    async def test_docs_page_loads_its_document_under_the_docs_policy(
        self, client: httpx2.AsyncClient
    ) -> None:
        response = await client.get("/api/v2/docs")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "/api/v2/openapi.json" in response.text
        assert "cdn.jsdelivr.net" in response.headers["content-security-policy"]
        api = await client.get("/api/v2/items")
        assert api.headers["content-security-policy"].startswith("default-src 'none'")

    async def test_docs_follow_the_apps_visibility(
        self, versioned_client_for: VersionedClientFactory
    ) -> None:
        production = {"environment": "production", "forwarded_allow_ips": ["10.0.0.1"]}
        async with versioned_client_for(settings_overrides=production) as client:
            hidden = [await client.get(f"/api/v2/{page}") for page in ("docs", "openapi.json")]
            listed = (await client.get("/api/versions")).json()["versions"]
        assert [r.status_code for r in hidden] == [404, 404]
        assert listed[1]["docs_url"] is None
        async with versioned_client_for(
            settings_overrides=production | {"docs_enabled": True}
        ) as client:
            shown = [await client.get(f"/api/v2/{page}") for page in ("docs", "openapi.json")]
        assert [r.status_code for r in shown] == [200, 200]
