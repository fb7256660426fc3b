"""Which API versions exist (code) and, with the settings, where each one stands.

`ApiVersions` is the catalogue: one router per version, oldest first, each version's
successor being the next one. `ApiVersions.policy(settings)` combines it with the
API_VERSIONING_* settings into a `VersionPolicy`, refusing settings that name an unknown
version or deprecate the newest one (it would have no successor to point to).
"""

import re

from fastapi import APIRouter, Depends

from app.versioning.config import VERSION_NAME_PATTERN, VersioningSettings
from app.versioning.policy import VersionPolicy, VersionState, VersionStatus, serve_as
from app.versioning.router import discovery_router, docs_router


class ApiVersions:
    """The versions of the API, oldest first. Each gets a router mounted at <api>/<name>."""

    def __init__(self, *names: str) -> None:
        if not names or len(set(names)) != len(names):
            raise ValueError("give at least one version, each once")
        misnamed = [name for name in names if not re.fullmatch(VERSION_NAME_PATTERN, name)]
        if misnamed:
            raise ValueError(f"version names look like v1, v2, ...: not {misnamed}")
        self.names = names
        self.routers = {name: APIRouter() for name in names}
        self.api_prefix: str | None = None  # set by mount()

    def __getitem__(self, name: str) -> APIRouter:
        return self.routers[name]

    def include_in_every_version(self, router: APIRouter) -> None:
        """Serve `router` under every version: for contracts that do not change between them."""
        for version_router in self.routers.values():
            version_router.include_router(router)

    def mount(self, api_router: APIRouter, *, unversioned_alias: str | None = None) -> None:
        """Mount each version at <api prefix>/<name> with its docs, and the discovery endpoint.

        `unversioned_alias` serves that version at the bare API prefix too, hidden from
        OpenAPI, so clients that predate versioning keep working until it is retired.
        """
        self.api_prefix = api_router.prefix
        for name, router in self.routers.items():
            api_router.include_router(router, prefix=f"/{name}")
            api_router.include_router(docs_router(name), prefix=f"/{name}")
        api_router.include_router(discovery_router)
        if unversioned_alias is not None:
            api_router.include_router(
                self.routers[unversioned_alias],
                include_in_schema=False,
                dependencies=[Depends(serve_as(unversioned_alias))],
            )

    def policy(self, settings: VersioningSettings) -> VersionPolicy:
        """This catalogue under `settings`; raises ValueError on settings that do not fit it."""
        if self.api_prefix is None:
            raise RuntimeError("mount() the versions on the API router before building a policy")
        known = set(self.names)
        named = set(settings.deprecated) | set(settings.sunset) | set(settings.retired)
        problems = [f"unknown API version {name!r}" for name in sorted(named - known)]
        newest = self.names[-1]
        if newest in set(settings.deprecated) | set(settings.retired):
            problems.append(f"{newest} is the newest version: it has no successor to point to")
        if problems:
            raise ValueError("API_VERSIONING_*: " + "; ".join(problems))
        states: list[VersionState] = []
        successor: VersionState | None = None
        for name in reversed(self.names):
            successor = VersionState(
                name=name,
                path=f"{self.api_prefix}/{name}",
                status=_status(name, newest, settings),
                deprecated_at=settings.deprecated.get(name),
                sunset_at=settings.sunset.get(name),
                successor=successor,
            )
            states.insert(0, successor)
        return VersionPolicy(
            versions=tuple(states),
            deprecation_url=settings.deprecation_url or f"{self.api_prefix}/versions",
        )


def _status(name: str, newest: str, settings: VersioningSettings) -> VersionStatus:
    if name in settings.retired:
        return "retired"
    if name in settings.deprecated:
        return "deprecated"
    return "current" if name == newest else "supported"
