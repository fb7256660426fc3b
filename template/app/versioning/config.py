"""Versioning settings (API_VERSIONING_*): when each version is deprecated, sunset, retired.

Dates are RFC 3339 timestamps with a time zone, given as JSON objects keyed by version:
API_VERSIONING_DEPRECATED={"v1":"2026-11-01T00:00:00Z"}. Changing them needs no deployment
of new code, only a restart with the new environment.
"""

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Self

from pydantic import AfterValidator, AwareDatetime, Field, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.core.config import split_list

VERSION_NAME_PATTERN = r"^v[1-9][0-9]{0,3}$"

VersionName = Annotated[str, Field(pattern=VERSION_NAME_PATTERN)]


def _unique(names: list[str]) -> list[str]:
    if len(set(names)) != len(names):
        raise ValueError("a version is listed twice")
    return names


class VersioningSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="API_VERSIONING_",
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    # Since when each version is deprecated (RFC 9745 `Deprecation`; may lie in the future).
    deprecated: dict[VersionName, AwareDatetime] = {"v1": datetime(2026, 11, 1, tzinfo=UTC)}
    # When each deprecated version stops working (RFC 8594 `Sunset`); after its deprecation.
    sunset: dict[VersionName, AwareDatetime] = {"v1": datetime(2027, 11, 1, tzinfo=UTC)}
    # Versions that answer 410 Gone on every path, pointing to their successor.
    retired: Annotated[list[VersionName], NoDecode, AfterValidator(_unique)] = []
    # The `rel="deprecation"` link: human-readable deprecation notes. Unset: the discovery
    # endpoint (/api/versions), which lists every version with its status and dates.
    # No spaces or angle brackets: the value goes verbatim into a Link header.
    deprecation_url: str | None = Field(
        default=None, max_length=2000, pattern=r"^(https://|/)[^\s<>]+$"
    )

    @model_validator(mode="before")
    @classmethod
    def _parse_lists(cls, data: object) -> object:
        if isinstance(data, dict) and "retired" in data:
            data["retired"] = split_list(data["retired"])
        return data

    @model_validator(mode="after")
    def _sunset_follows_deprecation(self) -> Self:
        problems = []
        for name, sunset in sorted(self.sunset.items()):
            deprecated = self.deprecated.get(name)
            if deprecated is None:
                problems.append(f"{name} has a sunset date but no deprecation date")
            elif sunset <= deprecated:
                problems.append(f"the sunset of {name} must come after its deprecation")
        if problems:
            raise ValueError("API_VERSIONING_SUNSET: " + "; ".join(problems))
        return self


@lru_cache(maxsize=1)
def get_versioning_settings() -> VersioningSettings:
    return VersioningSettings()
