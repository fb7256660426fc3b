"""Both versions serve every route; v2's items contract; the unversioned alias."""

import uuid
from typing import Any

import httpx2
import pytest

V1 = "/api/v1/items"
V2 = "/api/v2/items"
METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}


def a_v2_item(**overrides: Any) -> dict[str, Any]:
    return {
        "title": "Widget",
        "description": "A widget",
        "price": "12.50",
        "quantity": 3,
    } | overrides


async def create_v2(client: httpx2.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post(V2, json=a_v2_item(**overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


class TestEveryRouteInEveryVersion:
    async def test_each_version_serves_the_same_operations(
        self, client: httpx2.AsyncClient
    ) -> None:
        """Holds with every feature on: a feature router lands in all versions or none."""
        schema = (await client.get("/openapi.json")).json()
        by_version: dict[str, set[tuple[str, str]]] = {"v1": set(), "v2": set()}
        unversioned: list[str] = []
        for path, operations in schema["paths"].items():
            if not path.startswith("/api/"):
                continue
            version, _, rest = path.removeprefix("/api/").partition("/")
            for method, operation in operations.items():
                if method not in METHODS:
                    continue
                if version in by_version:
                    by_version[version].add((method, rest))
                elif not operation.get("x-version-independent"):
                    unversioned.append(f"{method.upper()} {path}")
        assert by_version["v1"] == by_version["v2"]
        assert ("get", "items") in by_version["v1"]
        assert unversioned == [], "version-independent routes must say so in OpenAPI"

    async def test_the_unversioned_alias_is_not_in_openapi(
        self, client: httpx2.AsyncClient
    ) -> None:
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert "/api/items" not in paths
        assert "/api/items/{item_id}" not in paths
        assert "/api/v1/items" in paths

    async def test_the_alias_serves_v1(self, client: httpx2.AsyncClient) -> None:
        created = await create_v2(client)
        via_alias = await client.get(f"/api/items/{created['id']}")
        via_v1 = await client.get(f"{V1}/{created['id']}")
        assert via_alias.status_code == 200
        assert via_alias.json() == via_v1.json()
        assert via_alias.json()["name"] == "Widget"


class TestV2Contract:
    async def test_create_read_update_delete(self, client: httpx2.AsyncClient) -> None:
        response = await client.post(V2, json=a_v2_item())
        assert response.status_code == 201
        item = response.json()
        assert item["title"] == "Widget"
        assert "name" not in item
        assert response.headers["location"] == f"{V2}/{item['id']}"
        assert response.headers["etag"] == '"1"'

        read = await client.get(response.headers["location"])
        assert read.json() == item
        again = await client.get(f"{V2}/{item['id']}", headers={"If-None-Match": '"1"'})
        assert again.status_code == 304

        stale = await client.patch(
            f"{V2}/{item['id']}", json={"title": "Gadget"}, headers={"If-Match": '"0"'}
        )
        assert stale.status_code == 412
        assert stale.headers["content-type"] == "application/problem+json"
        updated = await client.patch(
            f"{V2}/{item['id']}", json={"title": "Gadget"}, headers={"If-Match": '"1"'}
        )
        assert updated.status_code == 200
        assert updated.json()["title"] == "Gadget"
        assert updated.json()["version"] == 2
        assert updated.headers["etag"] == '"2"'

        assert (
            await client.delete(f"{V2}/{item['id']}", headers={"If-Match": '"1"'})
        ).status_code == 412
        assert (
            await client.delete(f"{V2}/{item['id']}", headers={"If-Match": '"2"'})
        ).status_code == 204
        gone = await client.get(f"{V2}/{item['id']}")
        assert gone.status_code == 404
        assert gone.headers["content-type"] == "application/problem+json"

    async def test_one_item_two_representations(self, client: httpx2.AsyncClient) -> None:
        item = await create_v2(client, title="Lamp")
        v1 = (await client.get(f"{V1}/{item['id']}")).json()
        assert v1["name"] == "Lamp"
        assert "title" not in v1
        assert {k: v for k, v in v1.items() if k != "name"} == {
            k: v for k, v in item.items() if k != "title"
        }

    @pytest.mark.parametrize(
        ("path", "payload"),
        [
            (V2, a_v2_item(name="Widget")),  # v1's field name is unknown to v2
            (V2, {"price": "1.00"}),
            (V2, a_v2_item(title="   ")),
            (V2, a_v2_item(quantity="3")),
            (V1, {"title": "Widget", "price": "1.00"}),  # and v2's to v1
        ],
    )
    async def test_each_version_validates_its_own_fields(
        self, client: httpx2.AsyncClient, path: str, payload: dict[str, Any]
    ) -> None:
        response = await client.post(path, json=payload)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"

    @pytest.mark.parametrize("changes", [{}, {"title": None}, {"name": "x"}, {"price": None}])
    async def test_rejects_invalid_changes(
        self, client: httpx2.AsyncClient, changes: dict[str, Any]
    ) -> None:
        item = await create_v2(client)
        response = await client.patch(f"{V2}/{item['id']}", json=changes)
        assert response.status_code == 422
        assert (await client.get(f"{V2}/{item['id']}")).json() == item

    async def test_description_can_be_cleared(self, client: httpx2.AsyncClient) -> None:
        item = await create_v2(client)
        response = await client.patch(f"{V2}/{item['id']}", json={"description": None})
        assert response.json()["description"] is None
        assert response.json()["title"] == "Widget"

    async def test_list_envelope_pages_through_everything(self, client: httpx2.AsyncClient) -> None:
        created = [(await create_v2(client, title=f"Item {n}"))["id"] for n in range(5)]
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            body = (await client.get(V2, params=params)).json()
            assert set(body) == {"data", "pagination"}
            seen += [item["id"] for item in body["data"]]
            cursor = body["pagination"]["next_cursor"]
            assert body["pagination"]["has_more"] is (cursor is not None)
            if cursor is None:
                break
        assert seen == created

    async def test_filters_and_cursor_errors(self, client: httpx2.AsyncClient) -> None:
        await create_v2(client, title="Blue pen", price="1.50", quantity=0)
        await create_v2(client, title="Red pen", price="2.50", quantity=5)
        await create_v2(client, title="Notebook", price="7.00", quantity=2)

        async def titles(**params: str) -> list[str]:
            return [item["title"] for item in (await client.get(V2, params=params)).json()["data"]]

        assert await titles(title="PEN") == ["Blue pen", "Red pen"]
        assert await titles(min_price="2", max_price="8") == ["Red pen", "Notebook"]
        assert await titles(in_stock="true", title="pen") == ["Red pen"]
        bad = await client.get(V2, params={"cursor": "garbage"})
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"

    async def test_unchanged_list_gives_304(self, client: httpx2.AsyncClient) -> None:
        await create_v2(client)
        etag = (await client.get(V2)).headers["etag"]
        assert etag != (await client.get(V1)).headers["etag"]  # another representation
        assert (await client.get(V2, headers={"If-None-Match": etag})).status_code == 304
        await create_v2(client, title="Another")
        assert (await client.get(V2, headers={"If-None-Match": etag})).status_code == 200


class TestIdempotencyAcrossVersions:
    async def test_retry_replays_the_first_create(self, client: httpx2.AsyncClient) -> None:
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        first = await client.post(V2, json=a_v2_item(), headers=headers)
        second = await client.post(V2, json=a_v2_item(), headers=headers)
        assert first.status_code == second.status_code == 201
        assert second.json() == first.json()
        assert second.headers["idempotent-replayed"] == "true"

    async def test_a_key_is_one_operation_whichever_version_retries_it(
        self, client: httpx2.AsyncClient
    ) -> None:
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        v1 = await client.post(
            V1,
            json={"name": "Widget", "description": "A widget", "price": "12.50", "quantity": 3},
            headers=headers,
        )
        v2 = await client.post(V2, json=a_v2_item(), headers=headers)
        assert v2.status_code == 201
        assert v2.headers["idempotent-replayed"] == "true"
        assert v2.json()["id"] == v1.json()["id"]
        assert v2.json()["title"] == "Widget"
        other = await client.post(V2, json=a_v2_item(quantity=4), headers=headers)
        assert other.status_code == 422
        assert len((await client.get(V2)).json()["data"]) == 1
