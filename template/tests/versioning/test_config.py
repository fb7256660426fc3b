"""API_VERSIONING_* settings: parsed from the environment, validated, checked against the
catalogue of versions before the app starts."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from app.versioning.config import VersioningSettings
from app.versioning.registry import ApiVersions
from app.versioning.versions import api_versions
from tests.versioning.conftest import versioning_settings


def test_reads_json_dates_and_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_VERSIONING_DEPRECATED", '{"v1": "2026-03-01T00:00:00Z"}')
    monkeypatch.setenv("API_VERSIONING_SUNSET", '{"v1": "2026-09-01T00:00:00+02:00"}')
    monkeypatch.setenv("API_VERSIONING_RETIRED", "v1")
    settings = VersioningSettings(_env_file=None)
    assert settings.deprecated == {"v1": datetime(2026, 3, 1, tzinfo=UTC)}
    assert settings.sunset["v1"] == datetime(2026, 8, 31, 22, 0, tzinfo=UTC)
    assert settings.retired == ["v1"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sunset": {"v1": datetime(2025, 1, 1, tzinfo=UTC)}}, "must come after"),
        ({"deprecated": {}, "sunset": {"v1": datetime(2030, 1, 1, tzinfo=UTC)}}, "no deprecation"),
        ({"deprecated": {"v1": "2026-03-01T00:00:00"}}, "timezone"),
        ({"deprecated": {"version1": "2026-03-01T00:00:00Z"}}, "pattern"),
        ({"retired": ["v1", "v1"]}, "twice"),
        ({"deprecation_url": "javascript:alert(1)"}, "pattern"),
        ({"deprecation_url": "/docs>; rel=evil"}, "pattern"),
    ],
)
def test_refuses_inconsistent_settings(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        versioning_settings(**overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"retired": ["v7"]}, "unknown API version 'v7'"),
        ({"deprecated": {"v2": "2026-03-01T00:00:00Z"}, "sunset": {}}, "v2 is the newest"),
        ({"retired": ["v2"]}, "v2 is the newest"),
    ],
)
def test_the_policy_refuses_settings_that_do_not_fit_the_versions(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        api_versions.policy(versioning_settings(**overrides))


@pytest.mark.parametrize(
    ("names", "message"), [(("v1", "v1"), "each once"), ((), "each once"), (("v1", "beta"), "beta")]
)
def test_a_catalogue_needs_distinct_well_named_versions(
    names: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ApiVersions(*names)


def test_a_policy_needs_the_versions_mounted() -> None:
    with pytest.raises(RuntimeError, match="mount"):
        ApiVersions("v1", "v2").policy(versioning_settings())
