"""OpenAPI per version: the app's document, cut down to one version's paths."""

import copy
from typing import Any

from fastapi import FastAPI

from app.versioning.policy import VersionPolicy, VersionState

REF_PREFIX = "#/components/schemas/"


def mark_deprecated(schema: dict[str, Any], policy: VersionPolicy) -> dict[str, Any]:
    """Flag every operation of a deprecated version `deprecated: true` (in place)."""
    for path, operations in schema.get("paths", {}).items():
        state = policy.for_path(path)
        if state is None or state.deprecated_at is None:
            continue
        for operation in operations.values():
            operation["deprecated"] = True
    return schema


def _refs(node: object) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


def version_openapi(app: FastAPI, state: VersionState) -> dict[str, Any]:
    """The OpenAPI document of one version: its paths and the schemas they reference."""
    document = copy.deepcopy(app.openapi())
    document["paths"] = {
        path: operations
        for path, operations in document.get("paths", {}).items()
        if state.owns(path)
    }
    components: dict[str, Any] = document.setdefault("components", {})
    schemas: dict[str, Any] = components.get("schemas", {})
    wanted: set[str] = set()
    pending = _schema_names(document["paths"])
    while pending:
        name = pending.pop()
        if name not in wanted and name in schemas:
            wanted.add(name)
            pending |= _schema_names(schemas[name])
    components["schemas"] = {name: schemas[name] for name in sorted(wanted)}
    info = document["info"]
    info["title"] = f"{info['title']} {state.name}"
    info["version"] = state.name
    if state.deprecated_at is not None:
        info["description"] = f"API {state.name} is deprecated; see the Deprecation header."
    return document


def _schema_names(node: object) -> set[str]:
    return {ref.removeprefix(REF_PREFIX) for ref in _refs(node) if ref.startswith(REF_PREFIX)}
