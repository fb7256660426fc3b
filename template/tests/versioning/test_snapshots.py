"""Each version's items contract matches its committed snapshot (see snapshot.py)."""

import json

import httpx2
import pytest

from tests.versioning.snapshot import SNAPSHOT_DIR, contract, render


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_contract_matches_the_snapshot(client: httpx2.AsyncClient, version: str) -> None:
    response = await client.get(f"/api/{version}/openapi.json")
    assert response.status_code == 200
    served = render(contract(response.json(), f"/api/{version}"))
    committed = (SNAPSHOT_DIR / f"{version}.json").read_text(encoding="utf-8")
    assert served == committed, (
        f"The {version} contract changed. If that is deliberate, run "
        "`uv run python -m tests.versioning.snapshot` and commit the diff."
    )


def test_the_contract_helper_sees_what_a_version_changes() -> None:
    v1 = json.loads((SNAPSHOT_DIR / "v1.json").read_text(encoding="utf-8"))
    v2 = json.loads((SNAPSHOT_DIR / "v2.json").read_text(encoding="utf-8"))
    assert set(v1["operations"]) == set(v2["operations"])
    assert "name" in v1["schemas"]["ItemRead"]["properties"]
    assert "title" in v2["schemas"]["ItemV2"]["properties"]
