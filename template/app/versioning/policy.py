"""Where each API version stands: status, dates, successor; the headers that say so."""

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Literal
from urllib.parse import quote

from fastapi import FastAPI, Request

from app.core.errors import AppError

VersionStatus = Literal["current", "supported", "deprecated", "retired"]
# The policy on `app.state`, read per request so a test (or a second app) can hold its own.
STATE_KEY = "api_versioning"
# A per-request dict the middleware puts in the ASGI scope; the unversioned alias's route
# writes the version it serves into it. (A dict, so copies of the scope share it.)
SCOPE_KEY = "app.versioning"


@dataclass(frozen=True, slots=True)
class VersionState:
    name: str
    path: str
    status: VersionStatus
    deprecated_at: datetime | None
    sunset_at: datetime | None
    successor: "VersionState | None"

    def owns(self, path: str) -> bool:
        return path == self.path or path.startswith(self.path + "/")

    def successor_path(self, path: str) -> str | None:
        """The same resource under the successor version (every version serves every route).

        `path` is under this version's prefix, or under the bare API prefix when this version
        is also served there as the unversioned alias.
        """
        if self.successor is None:
            return None
        api_prefix = self.path.rsplit("/", 1)[0]
        rest = path.removeprefix(self.path if self.owns(path) else api_prefix)
        # Percent-encoded: the path goes into a Link header, which must stay ASCII.
        return quote(self.successor.path + rest, safe="/")

    def deprecation_headers(self, path: str, deprecation_url: str) -> list[tuple[str, str]]:
        """RFC 9745 Deprecation, RFC 8594 Sunset and their Link relations; none when current."""
        if self.deprecated_at is None:
            return []
        headers = [("Deprecation", f"@{int(self.deprecated_at.timestamp())}")]
        if self.sunset_at is not None:
            headers.append(("Sunset", format_datetime(self.sunset_at, usegmt=True)))
        successor = self.successor_path(path)
        if successor is not None:
            headers.append(("Link", f'<{successor}>; rel="successor-version"'))
        headers.append(("Link", f'<{deprecation_url}>; rel="deprecation"'))
        return headers


class VersionRetiredError(AppError):
    """410 Gone for a retired version, with a Link to the same resource in its successor."""

    status_code = 410

    def __init__(self, state: VersionState, path: str) -> None:
        self.successor = state.successor_path(path)
        detail = f"API {state.name} is retired."
        if state.successor is not None:
            detail += f" Use {state.successor.name}: {self.successor}"
        super().__init__(detail)
        if self.successor is not None:
            self.headers = {"Link": f'<{self.successor}>; rel="successor-version"'}


@dataclass(frozen=True, slots=True)
class VersionPolicy:
    """Every version's status, dates and paths, oldest first."""

    versions: tuple[VersionState, ...]
    deprecation_url: str

    def __iter__(self) -> Iterator[VersionState]:
        return iter(self.versions)

    def get(self, name: str) -> VersionState | None:
        return next((state for state in self.versions if state.name == name), None)

    def for_path(self, path: str) -> VersionState | None:
        """The version whose prefix the path is under: /api/v1 and /api/v1/... are v1's."""
        return next((state for state in self.versions if state.owns(path)), None)


def policy_of_app(app: FastAPI) -> VersionPolicy:
    policy: VersionPolicy = getattr(app.state, STATE_KEY)
    return policy


def policy_of(request: Request) -> VersionPolicy:
    return policy_of_app(request.app)


def serve_as(name: str) -> Callable[[Request], Awaitable[None]]:
    """Dependency of the unversioned alias: mark the request as `name`'s, 410 once retired."""

    async def served_as(request: Request) -> None:
        state = policy_of(request).get(name)
        if state is None:
            raise LookupError(f"API version {name!r} is not in the policy")
        # The middleware reads it to add this version's deprecation headers.
        request.scope.setdefault(SCOPE_KEY, {})["version"] = name
        if state.status == "retired":
            raise VersionRetiredError(state, request.url.path)

    return served_as
