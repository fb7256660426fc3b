"""Auth settings (environment variables prefixed AUTH_, or `.env`).

Access tokens are signed with HS256 and SECRET_KEY by default (or AUTH_SECRET_KEY when the
tokens need a key of their own). An asymmetric key pair (EdDSA or ES256) lets other services
verify tokens without being able to mint them: AUTH_ALGORITHM, AUTH_PRIVATE_KEY and
AUTH_PUBLIC_KEYS, a JSON object of key id -> PEM public key. The key id of the signing key
(AUTH_KEY_ID) goes into every token's `kid` header; `kid` only ever selects one of the
configured public keys, so old keys can stay listed while tokens signed with them live.
"""

import json
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.core.config import MIN_SECRET_LENGTH, Settings, is_weak_secret, split_list

Algorithm = Literal["HS256", "EdDSA", "ES256"]
# PyJWT's leeway for exp/nbf/iat; RFC 8725 asks for a small one.
MAX_LEEWAY_SECONDS = 30


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUTH_", env_file=".env", env_ignore_empty=True, extra="ignore", frozen=True
    )

    algorithm: Algorithm = "HS256"
    # HS256 only; empty means SECRET_KEY.
    secret_key: SecretStr = SecretStr("")
    # EdDSA / ES256 only: PEM private key, key id, and every public key still accepted.
    private_key: SecretStr = SecretStr("")
    key_id: str = ""
    public_keys: Annotated[dict[str, str], NoDecode] = {}

    issuer: str = "app"
    audience: str = "app-api"
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=14 * 86_400, ge=300)
    leeway_seconds: int = Field(default=10, ge=0, le=MAX_LEEWAY_SECONDS)
    # How long a password reset token works (it works once, and a newer request replaces it).
    password_reset_ttl_seconds: int = Field(default=1800, ge=300, le=86_400)
    # Per-account sign-in throttling (app/auth/lockout.py): after this many failed sign-ins
    # to one e-mail address, its sign-ins are refused (429) for LOGIN_LOCKOUT_SECONDS,
    # doubled with each further failure up to LOGIN_LOCKOUT_MAX_SECONDS. Failures are
    # forgotten once LOGIN_FAILURE_WINDOW_SECONDS pass without one (counted from the end of
    # a lockout).
    login_max_failures: int = Field(default=10, ge=1, le=1000)
    login_failure_window_seconds: int = Field(default=900, ge=1, le=86_400)
    login_lockout_seconds: int = Field(default=60, ge=1, le=86_400)
    login_lockout_max_seconds: int = Field(default=900, ge=1, le=86_400)

    registration_open: bool = True
    # Roles an admin may grant; "user" and "admin" are always among them.
    roles: Annotated[list[str], NoDecode] = ["user", "admin"]
    # Each Argon2 hash takes ~64 MiB and a core for ~0.1 s: cap how many run at once.
    hash_concurrency: int = Field(default=2, ge=1, le=64)

    @field_validator("roles", mode="before")
    @classmethod
    def _split_roles(cls, value: object) -> object:
        return split_list(value)

    @field_validator("public_keys", mode="before")
    @classmethod
    def _parse_public_keys(cls, value: object) -> object:
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("roles")
    @classmethod
    def _always_user_and_admin(cls, roles: list[str]) -> list[str]:
        return sorted({"user", "admin", *roles})

    @model_validator(mode="after")
    def _check_lockout(self) -> Self:
        if self.login_lockout_max_seconds < self.login_lockout_seconds:
            raise ValueError("AUTH_LOGIN_LOCKOUT_MAX_SECONDS must be >= AUTH_LOGIN_LOCKOUT_SECONDS")
        return self

    @model_validator(mode="after")
    def _check_keys(self) -> Self:
        if self.algorithm == "HS256":
            return self
        if not self.private_key.get_secret_value() or not self.key_id:
            raise ValueError(
                f"AUTH_ALGORITHM={self.algorithm} needs AUTH_PRIVATE_KEY and AUTH_KEY_ID"
            )
        if self.key_id not in self.public_keys:
            raise ValueError("AUTH_PUBLIC_KEYS must list the public key of AUTH_KEY_ID")
        return self

    def hmac_secret(self, settings: Settings) -> str:
        """The HS256 key: AUTH_SECRET_KEY, else SECRET_KEY; refused when short or a placeholder
        (PyJWT would only warn), whatever the environment."""
        secret = self.secret_key.get_secret_value() or settings.secret_key.get_secret_value()
        if is_weak_secret(secret):
            raise ValueError(
                f"auth needs SECRET_KEY (or AUTH_SECRET_KEY) to be a random value of at least "
                f"{MIN_SECRET_LENGTH} characters to sign tokens"
            )
        return secret
