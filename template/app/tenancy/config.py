"""Tenancy settings (environment variables prefixed TENANCY_, or `.env`).

The tenant of a request comes from the verified principal when it carries one; otherwise from
what a trusted gateway in front of the service sets: a header (default) or the subdomain.
Never expose the service directly to clients while it takes the tenant from either: anyone
could name any tenant.
"""

from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.core.config import split_list

TenantSource = Literal["header", "subdomain"]


class TenancySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TENANCY_",
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    # "header": the gateway sends the tenant id (a UUID) in `header`.
    # "subdomain": the tenant's slug is the first label of the host under `base_domain`.
    source: TenantSource = "header"
    header: str = Field(default="X-Tenant-ID", pattern=r"^[A-Za-z0-9-]+$")
    base_domain: str | None = None
    # Tenant look-ups are cached this long; a deactivation takes effect within it.
    cache_ttl_seconds: float = Field(default=5.0, ge=0, le=300)
    # Paths (and everything below them) served without a tenant. Docs and OpenAPI documents,
    # at any prefix (/api/v1/docs), are always exempt.
    exempt_paths: Annotated[list[str], NoDecode] = ["/health", "/metrics"]

    @model_validator(mode="before")
    @classmethod
    def _parse_lists(cls, data: object) -> object:
        if isinstance(data, dict) and "exempt_paths" in data:
            data["exempt_paths"] = split_list(data["exempt_paths"])
        return data

    @model_validator(mode="after")
    def _subdomain_needs_base_domain(self) -> "TenancySettings":
        if self.source == "subdomain" and not self.base_domain:
            raise ValueError("TENANCY_BASE_DOMAIN is required when TENANCY_SOURCE=subdomain")
        return self
