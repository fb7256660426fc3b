"""Version discovery (GET /api/versions) and each version's OpenAPI document and docs page.

The discovery endpoint is version-independent: it describes the versions, so it cannot
belong to one of them. Its operation carries `x-version-independent: true` in OpenAPI.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from app.core.config import Settings
from app.core.errors import error_responses
from app.versioning.openapi import version_openapi
from app.versioning.policy import VersionState, VersionStatus, policy_of

# Marks routes that live outside every version (tests check every other /api route is
# served by each version).
VERSION_INDEPENDENT = {"x-version-independent": True}

discovery_router = APIRouter(tags=["versions"])
StatusFilter = Annotated[VersionStatus | None, Query(description="Only versions with this status")]


class VersionInfo(BaseModel):
    name: str
    status: VersionStatus
    path: str
    deprecated_at: datetime | None
    sunset_at: datetime | None
    successor: str | None
    openapi_url: str | None
    docs_url: str | None


class VersionList(BaseModel):
    versions: list[VersionInfo]


def _docs_visible(request: Request) -> bool:
    settings: Settings = request.state.settings
    return settings.docs_visible


def _info(state: VersionState, *, docs: bool) -> VersionInfo:
    live = docs and state.status != "retired"
    return VersionInfo(
        name=state.name,
        status=state.status,
        path=state.path,
        deprecated_at=state.deprecated_at,
        sunset_at=state.sunset_at,
        successor=state.successor.name if state.successor else None,
        openapi_url=f"{state.path}/openapi.json" if live else None,
        docs_url=f"{state.path}/docs" if live else None,
    )


@discovery_router.get(
    "/versions", responses=error_responses(422, 500), openapi_extra=VERSION_INDEPENDENT
)
async def list_versions(
    request: Request,
    status: StatusFilter = None,
) -> VersionList:
    """List the API versions, oldest first, with their status, dates and documents."""
    docs = _docs_visible(request)
    return VersionList(
        versions=[
            _info(state, docs=docs)
            for state in policy_of(request)
            if status is None or state.status == status
        ]
    )


def docs_router(name: str) -> APIRouter:
    """GET <version>/openapi.json and <version>/docs, shown when the app's docs are."""
    router = APIRouter(include_in_schema=False)

    def version(request: Request) -> VersionState:
        state = policy_of(request).get(name)
        if state is None or not _docs_visible(request):
            raise HTTPException(status_code=404)
        return state

    @router.get("/openapi.json")
    async def version_openapi_document(request: Request) -> JSONResponse:
        return JSONResponse(version_openapi(request.app, version(request)))

    @router.get("/docs")
    async def version_docs(request: Request) -> HTMLResponse:
        state = version(request)
        return get_swagger_ui_html(
            openapi_url=request.url.path.removesuffix("/docs") + "/openapi.json",
            title=f"{request.app.title} {state.name}",
        )

    return router
