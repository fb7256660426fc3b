"""Settings, read from the environment and from `.env` (environment variables win).

Every setting is documented in README.md and `.env.example`. Features keep their own
settings classes next to their code, so this file only holds what every service needs.
"""

import json
from functools import lru_cache
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Environment = Literal["development", "test", "production"]
LogFormat = Literal["auto", "json", "console"]

MIN_SECRET_LENGTH = 32
# Values that appear in docs and examples; a production secret must never be one of them.
PLACEHOLDER_MARKERS = ("change", "placeholder", "secret", "example", "xxx", "todo")


def is_weak_secret(value: str) -> bool:
    lowered = value.lower()
    return (
        len(value) < MIN_SECRET_LENGTH
        or len(set(value)) < 8
        or any(marker in lowered for marker in PLACEHOLDER_MARKERS)
    )


def split_list(value: object) -> object:
    """Settings lists come as JSON (["a", "b"]) or as comma-separated text (a,b)."""
    if not isinstance(value, str):
        return value
    if value.lstrip().startswith("["):
        return json.loads(value)
    return [item.strip() for item in value.split(",") if item.strip()]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", frozen=True
    )

    environment: Environment = "development"
    debug: bool = False
    secret_key: SecretStr = SecretStr("")

    database_url: str = "sqlite+aiosqlite:///./app.db"
    database_pool_size: int = Field(default=5, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_pool_timeout: float = Field(default=30.0, gt=0)
    database_pool_recycle: int = Field(default=1800, ge=-1)
    database_echo: bool = False
    database_statement_timeout_ms: int = Field(default=30_000, ge=100)

    redis_url: str | None = None

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: LogFormat = "auto"

    cors_origins: Annotated[list[str], NoDecode] = []
    cors_allow_credentials: bool = False
    trusted_hosts: Annotated[list[str], NoDecode] = ["*"]
    forwarded_allow_ips: Annotated[list[str], NoDecode] = ["127.0.0.1"]

    max_body_size: int = Field(default=1_048_576, ge=0)
    gzip_minimum_size: int = Field(default=1000, ge=0)
    docs_enabled: bool | None = None
    metrics_enabled: bool = True
    idempotency_ttl_seconds: int = Field(default=86_400, ge=60)
    # Seconds between SIGTERM and the start of shutdown, with readiness at 503 (app/core/drain.py).
    shutdown_drain_seconds: float = Field(default=0, ge=0, le=300)

    @model_validator(mode="before")
    @classmethod
    def _parse_lists(cls, data: object) -> object:
        if isinstance(data, dict):
            for key in ("cors_origins", "trusted_hosts", "forwarded_allow_ips"):
                if key in data:
                    data[key] = split_list(data[key])
        return data

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Self:
        if self.environment != "production":
            return self
        problems = []
        if is_weak_secret(self.secret_key.get_secret_value()):
            problems.append(
                f"SECRET_KEY must be a random value of at least {MIN_SECRET_LENGTH} characters"
                " (generate one with: python -c 'import secrets; print(secrets.token_hex(32))')"
            )
        if self.debug:
            problems.append("DEBUG must be off")
        if "*" in self.cors_origins and self.cors_allow_credentials:
            problems.append("CORS_ORIGINS must not be '*' when CORS_ALLOW_CREDENTIALS is on")
        if "*" in self.forwarded_allow_ips:
            problems.append("FORWARDED_ALLOW_IPS must list the proxies to trust, not '*'")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self

    @property
    def docs_visible(self) -> bool:
        if self.docs_enabled is None:
            return self.environment != "production"
        return self.docs_enabled

    @property
    def resolved_log_format(self) -> Literal["json", "console"]:
        if self.log_format == "auto":
            return "json" if self.environment == "production" else "console"
        return self.log_format


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
