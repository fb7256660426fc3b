"""The items contract of each API version, committed in tests/versioning/snapshots/<v>.json.

`test_snapshots.py` compares the served documents with them, so a contract change is always
deliberate. After changing a version's contract on purpose, refresh and review the diff:

    uv run python -m tests.versioning.snapshot

Only the items operations are pinned, and of them what the version itself promises: path
and query parameters, request bodies, success responses and the schemas they use. Error
responses, header parameters and security requirements are left out on purpose: other
features add those to every route (auth's 401, rate limiting's 429, a tenant header) and
test them themselves. That keeps each snapshot identical in every feature combination.
Deprecation is left out too: it is a setting (API_VERSIONING_DEPRECATED), not a contract.
"""

import json
import re
from pathlib import Path
from typing import Any

from app.main import create_app
from app.versioning.openapi import version_openapi
from app.versioning.policy import policy_of_app
from tests.conftest import make_settings

SNAPSHOT_DIR = Path(__file__).parent / "snapshots"
CONTRACT_PREFIX = "/items"
SUCCESS = re.compile(r"^(2\d\d|304)$")
REF_PREFIX = "#/components/schemas/"


def _refs(node: object) -> set[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        found = {ref.removeprefix(REF_PREFIX)} if isinstance(ref, str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


def contract(document: dict[str, Any], version_path: str) -> dict[str, Any]:
    """The items contract in a version's OpenAPI document, paths relative to the version."""
    operations: dict[str, Any] = {}
    for path, methods in sorted(document["paths"].items()):
        relative = path.removeprefix(version_path)
        if not relative.startswith(CONTRACT_PREFIX):
            continue
        for method, operation in sorted(methods.items()):
            operations[f"{method.upper()} {relative}"] = {
                "parameters": [
                    parameter
                    for parameter in operation.get("parameters", [])
                    if parameter["in"] != "header"
                ],
                "requestBody": operation.get("requestBody"),
                "responses": {
                    status: response
                    for status, response in sorted(operation["responses"].items())
                    if SUCCESS.match(status)
                },
            }
    all_schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    schemas: dict[str, Any] = {}
    pending = _refs(operations)
    while pending:
        name = pending.pop()
        if name not in schemas:
            schemas[name] = all_schemas[name]
            pending |= _refs(all_schemas[name])
    return {"operations": operations, "schemas": dict(sorted(schemas.items()))}


def render(snapshot: dict[str, Any]) -> str:
    return json.dumps(snapshot, indent=2, sort_keys=True) + "\n"


def main() -> None:
    app = create_app(make_settings())
    for state in policy_of_app(app):
        snapshot = contract(version_openapi(app, state), state.path)
        target = SNAPSHOT_DIR / f"{state.name}.json"
        target.write_text(render(snapshot), encoding="utf-8")
        print(f"wrote {target} ({len(snapshot['operations'])} operations)")  # noqa: T201


if __name__ == "__main__":
    main()
