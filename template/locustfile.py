"""Load test: `make load` runs it headless; `uv run locust` opens the web UI on :8089.

Each simulated client mostly reads (the list page and single items, revalidated with
If-None-Match so unchanged items cost a 304) and sometimes creates an item with an
Idempotency-Key, the way a well-behaved API client would.
"""

import secrets
import uuid

from locust import HttpUser, between, task

PAGE_SIZE = 20
KNOWN_IDS_LIMIT = 200


class ApiUser(HttpUser):
    """A client of the items API."""

    host = "http://127.0.0.1:8000"
    wait_time = between(0.5, 2.0)

    item_ids: list[str]
    etags: dict[str, str]

    def on_start(self) -> None:
        self.item_ids = []
        self.etags = {}

    def remember(self, item_id: str, etag: str | None = None) -> None:
        if item_id not in self.item_ids and len(self.item_ids) < KNOWN_IDS_LIMIT:
            self.item_ids.append(item_id)
        if etag:
            self.etags[item_id] = etag

    @task(1)
    def health(self) -> None:
        self.client.get("/health/live", name="/health/live")

    @task(6)
    def list_items(self) -> None:
        with self.client.get(
            "/api/items",
            params={"limit": PAGE_SIZE},
            name="/api/items?limit",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"expected 200, got {response.status_code}")
                return
            payload: object = response.json()
            if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
                response.failure("response is not a page of items")
                return
            if "next_cursor" not in payload:
                response.failure("page has no next_cursor")
                return
            for item in payload["items"]:
                if isinstance(item, dict) and "id" in item:
                    self.remember(str(item["id"]))
            response.success()

    @task(2)
    def create_item(self) -> None:
        body = {
            "name": f"load-{uuid.uuid4().hex[:12]}",
            "price": "12.50",
            "quantity": 3,
        }
        with self.client.post(
            "/api/items",
            json=body,
            headers={"Idempotency-Key": str(uuid.uuid4())},
            name="/api/items [create]",
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"expected 201, got {response.status_code}")
                return
            payload: object = response.json()
            if not isinstance(payload, dict) or "id" not in payload:
                response.failure("created item has no id")
                return
            self.remember(str(payload["id"]), response.headers.get("ETag"))
            response.success()

    @task(8)
    def get_item(self) -> None:
        if not self.item_ids:
            self.list_items()
            return
        item_id = secrets.choice(self.item_ids)
        etag = self.etags.get(item_id, "")
        headers = {"If-None-Match": etag} if etag else {}
        with self.client.get(
            f"/api/items/{item_id}",
            headers=headers,
            name="/api/items/{id}",
            catch_response=True,
        ) as response:
            if response.status_code == 304:
                response.success()
            elif response.status_code == 200:
                self.remember(item_id, response.headers.get("ETag"))
                response.success()
            else:
                response.failure(f"expected 200 or 304, got {response.status_code}")
