"""Apps with chosen versioning settings, built the way app/main.py builds them."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.versioning.config import VersioningSettings
from app.versioning.middleware import use_policy
from app.versioning.versions import api_versions
from tests.conftest import running_client

DEPRECATED = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
SUNSET = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)

VersionedClientFactory = Callable[..., AbstractAsyncContextManager[httpx2.AsyncClient]]


def versioning_settings(**overrides: Any) -> VersioningSettings:
    values: dict[str, Any] = {"deprecated": {"v1": DEPRECATED}, "sunset": {"v1": SUNSET}}
    return VersioningSettings(_env_file=None, **(values | overrides))


@pytest.fixture
def versioned_client_for(settings: Settings) -> VersionedClientFactory:
    """`async with versioned_client_for(retired=["v1"], settings={"environment": ...}) as c:`"""

    def factory(
        settings_overrides: dict[str, Any] | None = None, **versioning: Any
    ) -> AbstractAsyncContextManager[httpx2.AsyncClient]:
        policy = api_versions.policy(versioning_settings(**versioning))

        def customize(app: FastAPI) -> None:
            use_policy(app, policy)

        app_settings = settings.model_copy(update=settings_overrides or {})
        return running_client(app_settings, customize)

    return factory
