"""Per-request version policy: deprecation headers on deprecated versions, 410 on retired ones.

A middleware rather than a route dependency, so that every response under a version's
prefix is covered: 304s and problem documents included, and unknown paths under a retired
version answer 410 like the known ones.
"""

from typing import Any

from asgi_correlation_id import correlation_id
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import PROBLEM_MEDIA_TYPE, Problem
from app.versioning.openapi import mark_deprecated
from app.versioning.policy import (
    SCOPE_KEY,
    STATE_KEY,
    VersionPolicy,
    VersionRetiredError,
    policy_of_app,
)


def install_api_versioning(app: FastAPI, policy: VersionPolicy) -> None:
    """Apply `policy` to `app`: headers and 410s per request, `deprecated` in OpenAPI."""
    use_policy(app, policy)
    app.add_middleware(ApiVersionMiddleware)
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        return mark_deprecated(generate_openapi(), policy_of_app(app))

    app.openapi = openapi  # type: ignore[method-assign]


def use_policy(app: FastAPI, policy: VersionPolicy) -> None:
    """Replace the policy of an installed app (it is read per request)."""
    setattr(app.state, STATE_KEY, policy)


def gone(error: VersionRetiredError, path: str) -> JSONResponse:
    problem = Problem(
        title="Gone",
        status=410,
        detail=error.detail,
        instance=path,
        request_id=correlation_id.get(),
    )
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=410,
        headers=error.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


class ApiVersionMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = policy_of_app(scope["app"])
        path: str = scope["path"]
        by_path = policy.for_path(path)
        if by_path is not None and by_path.status == "retired":
            await gone(VersionRetiredError(by_path, path), path)(scope, receive, send)
            return

        marks: dict[str, str] = {}
        scope[SCOPE_KEY] = marks

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Under a version's prefix, or on the unversioned alias (marked by its route).
                state = by_path or policy.get(marks.get("version", ""))
                # A retired version's 410 carries its own Link to the successor.
                if state is not None and state.status != "retired":
                    headers = MutableHeaders(scope=message)
                    for name, value in state.deprecation_headers(path, policy.deprecation_url):
                        headers.append(name, value)
            await send(message)

        await self.app(scope, receive, add_headers)
