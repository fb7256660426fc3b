"""Rate-limit settings (environment variables prefixed RATE_LIMIT_, or `.env`).

Limits use the `limits` library's notation: "100/minute", "10 per second", "1000/2 hours".
Every limit is parsed at start-up, so a typo stops the service with a message naming the
variable instead of surfacing on the first request.
"""

from typing import Annotated, Literal

from limits import RateLimitItem, parse
from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.core.config import split_list

Strategy = Literal["moving-window", "sliding-window-counter"]


def parse_limit(value: str) -> RateLimitItem:
    """Parse one limit such as "100/minute"; ValueError with a readable message otherwise."""
    try:
        item = parse(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a rate limit; write it like '100/minute', '10 per second' "
            "or '1000/2 hours'"
        ) from None
    if item.amount < 1:
        raise ValueError(f"{value!r} admits no request at all; the amount must be at least 1")
    return item


def _check_limit(value: str) -> str:
    parse_limit(value)
    return value


class RateLimitSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RATE_LIMIT_",
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    enabled: bool = True
    # Shared by every API route without an override, counted per client.
    default: str = "100/minute"
    # Route name (the endpoint function, e.g. "create_item") -> its own limit and counter.
    # Names, not paths, so /api/v1/... and /api/v2/... of one operation share a limit.
    routes: dict[str, str] = {}
    # Routes whose abuse matters most (credential checks): a tighter limit, and when the
    # storage is unreachable they answer 503 instead of going unprotected.
    strict: str = "5/minute"
    strict_routes: Annotated[list[str], NoDecode] = [
        "login",
        "refresh",
        "request_password_reset",
        "confirm_password_reset",
    ]
    exempt_roles: Annotated[list[str], NoDecode] = ["admin"]
    # A quota per tenant on top of the per-client limits: the principal's tenant, else the
    # tenant multi-tenancy resolved for the request. Unset: no tenant quota.
    tenant: str | None = None
    strategy: Strategy = "moving-window"
    # Unset: Redis when REDIS_URL is set, else this process's memory. "memory://" forces memory.
    storage_url: str | None = None
    key_prefix: str = Field(default="ratelimit", min_length=1, pattern=r"^[A-Za-z0-9:_.-]+$")
    # Timeout, in seconds, of each call to Redis; a request waits at most twice this on the
    # limiter (a check is two calls) before its route fails open or closed.
    storage_timeout: float = Field(default=0.5, gt=0, le=5)
    # Retry-After of the 503 a strict route answers while the storage is unreachable.
    unavailable_retry_after: int = Field(default=5, ge=1)

    @field_validator("default", "strict", "tenant")
    @classmethod
    def _valid_limit(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        try:
            return _check_limit(value)
        except ValueError as error:
            raise ValueError(f"RATE_LIMIT_{str(info.field_name).upper()}: {error}") from None

    @field_validator("routes")
    @classmethod
    def _valid_route_limits(cls, value: dict[str, str]) -> dict[str, str]:
        for name, limit in value.items():
            try:
                _check_limit(limit)
            except ValueError as error:
                raise ValueError(f"RATE_LIMIT_ROUTES[{name!r}]: {error}") from None
        return value

    @field_validator("strict_routes", "exempt_roles", mode="before")
    @classmethod
    def _parse_lists(cls, value: object) -> object:
        return split_list(value)

    @field_validator("storage_url")
    @classmethod
    def _valid_storage(cls, value: str | None) -> str | None:
        if value is None or value == "memory://":
            return value
        if value.startswith(("redis://", "rediss://", "unix://")):
            return value
        raise ValueError("must be memory://, redis://…, rediss://… or unix://…")

    def resolved_storage_url(self, redis_url: str | None) -> str:
        """Where counters live: the explicit setting, else Redis if configured, else memory."""
        return self.storage_url or redis_url or "memory://"
