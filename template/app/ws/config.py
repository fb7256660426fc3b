"""WebSocket settings (environment variables prefixed WS_, or `.env`)."""

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.core.config import split_list


class WebSocketSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WS_", env_file=".env", env_ignore_empty=True, extra="ignore", frozen=True
    )

    # Browsers send Origin on every handshake and CORS does not apply to WebSockets, so this
    # list is what stops another site's page from connecting with the user's cookies.
    # A handshake whose Origin matches its own Host is always allowed; one without an Origin
    # header comes from a non-browser client (which could forge any Origin anyway).
    allowed_origins: Annotated[list[str], NoDecode] = []
    # Close anonymous handshakes (1008). Unset: required exactly when an authentication layer
    # is installed (it sets app.state.principal_check); without one nobody can sign in.
    require_authentication: bool | None = None
    # Text frames above this many bytes close the connection with 1009.
    max_message_bytes: int = Field(default=65_536, ge=256)
    # Token bucket per connection: a sustained rate plus a burst; beyond it, close with 1008.
    messages_per_second: float = Field(default=10.0, gt=0)
    message_burst: int = Field(default=40, ge=1)
    # Frames waiting to be written to one client; a client that falls this far behind is
    # disconnected (1013) so that it cannot hold memory or slow the broadcast for others.
    send_queue_size: int = Field(default=256, ge=1)
    # Simultaneous connections per user (anonymous: per client address), in each process.
    max_connections_per_client: int = Field(default=10, ge=1)
    max_subscriptions: int = Field(default=50, ge=1)
    # The server sends {"type": "ping"} this often; a client that sends nothing (a pong
    # counts) for idle_timeout seconds is closed with 1001.
    ping_interval: float = Field(default=20.0, gt=0)
    idle_timeout: float = Field(default=60.0, gt=0)
    # How often a long-lived connection asks the authentication layer whether its principal
    # is still valid (see app.ws.hub.PrincipalCheck); closed with 1008 when it is not.
    revalidate_interval: float = Field(default=300.0, gt=0)
    # Handshake tickets (POST /api/ws/tickets) are single use and live this long.
    ticket_ttl_seconds: int = Field(default=30, ge=1, le=300)
    key_prefix: str = Field(default="ws", min_length=1, pattern=r"^[A-Za-z0-9:_.-]+$")

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: object) -> object:
        return split_list(value)

    @field_validator("allowed_origins")
    @classmethod
    def _no_wildcard(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin == "*" or not origin.startswith(("http://", "https://")):
                raise ValueError(
                    f"WS_ALLOWED_ORIGINS: {origin!r} must be an origin such as "
                    "https://app.example.com (no wildcard)"
                )
        return [origin.rstrip("/") for origin in value]
