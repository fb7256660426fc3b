import asyncio
import uuid
from typing import Any

import httpx2
import pytest

from app.core.conditional import REVALIDATE, weak_etag_for

ITEMS = "/api/items"


def an_item(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Widget",
        "description": "A widget",
        "price": "12.50",
        "quantity": 3,
    } | overrides


async def create(client: httpx2.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post(ITEMS, json=an_item(**overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


class TestCreate:
    async def test_creates_and_returns_the_item(self, client: httpx2.AsyncClient) -> None:
        response = await client.post(ITEMS, json=an_item())
        assert response.status_code == 201
        body = response.json()
        assert body["name"] == "Widget"
        assert body["price"] == "12.50"
        assert body["quantity"] == 3
        assert body["version"] == 1
        assert response.headers["location"] == f"{ITEMS}/{body['id']}"
        assert response.headers["etag"] == '"1"'
        fetched = await client.get(response.headers["location"])
        assert fetched.json() == body

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            (an_item(is_admin=True), "is_admin"),  # unknown fields: no mass assignment
            (an_item(quantity="3"), "quantity"),  # no string-to-int coercion
            (an_item(quantity=True), "quantity"),
            (an_item(quantity=2.5), "quantity"),
            (an_item(price=True), "price"),
            (an_item(price=12.5), "price"),  # money never as a binary float
            (an_item(price="012.50"), "price"),
            (an_item(price="-1.00"), "price"),
            (an_item(price="1.001"), "price"),
            (an_item(price="NaN"), "price"),
            (an_item(price="1" * 20), "price"),
            (an_item(quantity=-1), "quantity"),
            (an_item(quantity=10**30), "quantity"),
            (an_item(name=""), "name"),
            (an_item(name="   "), "name"),
            (an_item(name="x" * 201), "name"),
            # PostgreSQL text cannot hold NUL: refused by the schema, on every database.
            (an_item(name="\x00abc"), "name"),
            (an_item(name="ab\x00c"), "name"),
            (an_item(description="a\x00"), "description"),
            (an_item(description="x" * 2001), "description"),
            ({"name": "No price"}, "price"),
        ],
    )
    async def test_rejects_invalid_input(
        self, client: httpx2.AsyncClient, payload: dict[str, Any], field: str
    ) -> None:
        response = await client.post(ITEMS, json=payload)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        errors = response.json()["errors"]
        assert any(field in error["loc"] for error in errors), errors
        assert all("input" not in error for error in errors)
        assert (await client.get(ITEMS)).json()["items"] == []

    async def test_integer_price_is_stored_with_cents(self, client: httpx2.AsyncClient) -> None:
        assert (await create(client, price=12))["price"] == "12.00"

    async def test_rejects_malformed_json(self, client: httpx2.AsyncClient) -> None:
        response = await client.post(
            ITEMS, content=b'{"name": ', headers={"Content-Type": "application/json"}
        )
        assert response.status_code in {400, 422}
        assert response.headers["content-type"] == "application/problem+json"

    async def test_rejects_a_body_that_is_not_json(self, client: httpx2.AsyncClient) -> None:
        response = await client.post(
            ITEMS, content=b"name=Widget", headers={"Content-Type": "text/plain"}
        )
        assert response.status_code == 422


class TestIdempotency:
    async def test_same_key_and_body_replays_the_first_response(
        self, client: httpx2.AsyncClient
    ) -> None:
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        first = await client.post(ITEMS, json=an_item(), headers=headers)
        second = await client.post(ITEMS, json=an_item(), headers=headers)
        assert first.status_code == second.status_code == 201
        assert second.json() == first.json()
        assert second.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert len((await client.get(ITEMS)).json()["items"]) == 1

    async def test_same_key_with_another_body_is_refused(self, client: httpx2.AsyncClient) -> None:
        headers = {"Idempotency-Key": "order-42"}
        await client.post(ITEMS, json=an_item(), headers=headers)
        response = await client.post(ITEMS, json=an_item(quantity=4), headers=headers)
        assert response.status_code == 422
        assert "Idempotency-Key" in response.json()["detail"]
        assert len((await client.get(ITEMS)).json()["items"]) == 1

    async def test_different_keys_create_different_items(self, client: httpx2.AsyncClient) -> None:
        for key in ("a", "b"):
            await client.post(ITEMS, json=an_item(), headers={"Idempotency-Key": key})
        assert len((await client.get(ITEMS)).json()["items"]) == 2

    async def test_concurrent_retries_create_one_item(self, client: httpx2.AsyncClient) -> None:
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        responses = await asyncio.gather(
            *(client.post(ITEMS, json=an_item(), headers=headers) for _ in range(5))
        )
        assert {response.status_code for response in responses} == {201}
        assert len({response.json()["id"] for response in responses}) == 1
        assert len((await client.get(ITEMS)).json()["items"]) == 1

    @pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\tkey"])
    async def test_malformed_key_is_refused(self, client: httpx2.AsyncClient, key: str) -> None:
        response = await client.post(ITEMS, json=an_item(), headers={"Idempotency-Key": key})
        assert response.status_code == 422


class TestRead:
    async def test_unknown_item_is_404(self, client: httpx2.AsyncClient) -> None:
        response = await client.get(f"{ITEMS}/{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"

    async def test_malformed_id_is_422(self, client: httpx2.AsyncClient) -> None:
        assert (await client.get(f"{ITEMS}/not-a-uuid")).status_code == 422

    async def test_current_etag_gives_304(self, client: httpx2.AsyncClient) -> None:
        item = await create(client)
        first = await client.get(f"{ITEMS}/{item['id']}")
        etag = first.headers["etag"]
        again = await client.get(f"{ITEMS}/{item['id']}", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag

    async def test_stale_etag_gives_the_new_version(self, client: httpx2.AsyncClient) -> None:
        item = await create(client)
        await client.patch(f"{ITEMS}/{item['id']}", json={"quantity": 9})
        response = await client.get(f"{ITEMS}/{item['id']}", headers={"If-None-Match": '"1"'})
        assert response.status_code == 200
        assert response.json()["quantity"] == 9
        assert response.headers["etag"] == '"2"'


class TestList:
    async def test_pages_through_every_item_once_in_creation_order(
        self, client: httpx2.AsyncClient
    ) -> None:
        created = [(await create(client, name=f"Item {n}"))["id"] for n in range(5)]
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params: dict[str, str | int] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get(ITEMS, params=params)).json()
            pages += 1
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == created
        assert pages == 3

    @pytest.mark.parametrize("limit", [0, -1, 101, 10**12, "many"])
    async def test_limit_is_capped(self, client: httpx2.AsyncClient, limit: object) -> None:
        assert (await client.get(ITEMS, params={"limit": str(limit)})).status_code == 422

    @pytest.mark.parametrize("cursor", ["garbage", "eyJ4IjogMX0", "W10", "x" * 201])
    async def test_bad_cursor_is_422(self, client: httpx2.AsyncClient, cursor: str) -> None:
        response = await client.get(ITEMS, params={"cursor": cursor})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"

    async def test_filters(self, client: httpx2.AsyncClient) -> None:
        await create(client, name="Blue pen", price="1.50", quantity=0)
        await create(client, name="Red pen", price="2.50", quantity=5)
        await create(client, name="Notebook", price="7.00", quantity=2)
        await create(client, name="100% cotton bag", price="9.00", quantity=1)

        async def names(**params: str) -> list[str]:
            items = (await client.get(ITEMS, params=params)).json()["items"]
            return [item["name"] for item in items]

        assert await names(name="PEN") == ["Blue pen", "Red pen"]
        assert await names(min_price="2", max_price="8") == ["Red pen", "Notebook"]
        assert await names(in_stock="false") == ["Blue pen"]
        assert await names(in_stock="true", name="pen") == ["Red pen"]
        assert await names(name="%") == ["100% cotton bag"]
        assert await names(name="_") == []

    async def test_the_list_etag_is_that_of_the_body_sent(self, client: httpx2.AsyncClient) -> None:
        await create(client)
        response = await client.get(ITEMS)
        assert response.headers["content-type"] == "application/json"
        assert response.headers["etag"] == weak_etag_for(response.content)
        assert response.headers["cache-control"] == REVALIDATE

    async def test_unchanged_list_gives_304(self, client: httpx2.AsyncClient) -> None:
        await create(client)
        etag = (await client.get(ITEMS)).headers["etag"]
        assert (await client.get(ITEMS, headers={"If-None-Match": etag})).status_code == 304
        await create(client, name="Another")
        assert (await client.get(ITEMS, headers={"If-None-Match": etag})).status_code == 200


class TestUpdate:
    async def test_changes_fields_and_bumps_the_version(self, client: httpx2.AsyncClient) -> None:
        item = await create(client)
        response = await client.patch(
            f"{ITEMS}/{item['id']}", json={"price": "15.00"}, headers={"If-Match": '"1"'}
        )
        assert response.status_code == 200
        body = response.json()
        assert body["price"] == "15.00"
        assert body["name"] == item["name"]
        assert body["version"] == 2
        assert response.headers["etag"] == '"2"'

    async def test_stale_if_match_is_412_and_changes_nothing(
        self, client: httpx2.AsyncClient
    ) -> None:
        item = await create(client)
        await client.patch(f"{ITEMS}/{item['id']}", json={"quantity": 1})
        response = await client.patch(
            f"{ITEMS}/{item['id']}", json={"quantity": 99}, headers={"If-Match": '"1"'}
        )
        assert response.status_code == 412
        assert (await client.get(f"{ITEMS}/{item['id']}")).json()["quantity"] == 1

    async def test_weak_etag_never_satisfies_if_match(self, client: httpx2.AsyncClient) -> None:
        item = await create(client)
        response = await client.patch(
            f"{ITEMS}/{item['id']}", json={"quantity": 2}, headers={"If-Match": 'W/"1"'}
        )
        assert response.status_code == 412

    @pytest.mark.parametrize(
        "changes", [{}, {"name": None}, {"price": None}, {"version": 7}, {"id": str(uuid.uuid4())}]
    )
    async def test_rejects_invalid_changes(
        self, client: httpx2.AsyncClient, changes: dict[str, Any]
    ) -> None:
        item = await create(client)
        response = await client.patch(f"{ITEMS}/{item['id']}", json=changes)
        assert response.status_code == 422
        assert (await client.get(f"{ITEMS}/{item['id']}")).json() == item

    async def test_description_can_be_cleared(self, client: httpx2.AsyncClient) -> None:
        item = await create(client)
        response = await client.patch(f"{ITEMS}/{item['id']}", json={"description": None})
        assert response.json()["description"] is None

    async def test_unknown_item_is_404(self, client: httpx2.AsyncClient) -> None:
        response = await client.patch(f"{ITEMS}/{uuid.uuid4()}", json={"quantity": 1})
        assert response.status_code == 404


class TestDelete:
    async def test_deletes_the_item(self, client: httpx2.AsyncClient) -> None:
        item = await create(client)
        response = await client.delete(f"{ITEMS}/{item['id']}", headers={"If-Match": '"1"'})
        assert response.status_code == 204
        assert (await client.get(f"{ITEMS}/{item['id']}")).status_code == 404
        assert (await client.delete(f"{ITEMS}/{item['id']}")).status_code == 404

    async def test_stale_if_match_is_412(self, client: httpx2.AsyncClient) -> None:
        item = await create(client)
        await client.patch(f"{ITEMS}/{item['id']}", json={"quantity": 1})
        response = await client.delete(f"{ITEMS}/{item['id']}", headers={"If-Match": '"1"'})
        assert response.status_code == 412
        assert (await client.get(f"{ITEMS}/{item['id']}")).status_code == 200
