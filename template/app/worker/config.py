"""Worker settings (environment variables prefixed CELERY_, or `.env`).

Without a broker URL the worker uses Redis at REDIS_URL; without that either, a SQLite file
under CELERY_LOCAL_DIR (kombu's SQLAlchemy transport), so `make worker` runs with no server.
"""

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CELERY_",
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    # Unset: REDIS_URL, else a SQLite file in local_dir (development without servers).
    broker_url: str | None = None
    result_backend: str | None = None
    local_dir: Path = Path(".celery")
    # One queue per deployment; tests use their own so runs sharing a Redis never mix.
    queue: str = Field(default="celery", min_length=1, pattern=r"^[A-Za-z0-9:_.-]+$")
    # A task gets SoftTimeLimitExceeded after soft_time_limit and is killed at time_limit.
    soft_time_limit: int = Field(default=270, ge=1)
    time_limit: int = Field(default=300, ge=1)
    # Redis redelivers an unacknowledged task (its worker died) after this many seconds, so
    # it must exceed the longest task and any countdown, or a running task runs twice.
    visibility_timeout: int = Field(default=3600, ge=60)
    # A cold shutdown (SIGQUIT, a second Ctrl-C) gives running tasks this many seconds, then
    # puts the unfinished ones back on the queue at once. 0: no wait.
    soft_shutdown_timeout: float = Field(default=10.0, ge=0)
    # Retries of a task that failed on a transient error (database unavailable, say):
    # exponential backoff with jitter, capped at retry_backoff_max seconds.
    max_retries: int = Field(default=5, ge=0)
    retry_backoff_max: int = Field(default=300, ge=1)
    # A task whose worker died this many times is given up instead of crashing workers forever.
    max_deliveries: int = Field(default=3, ge=1)
    # Results (task state) are kept this long; the exported files are kept in the database.
    result_expires: int = Field(default=86_400, ge=60)
    # Seconds the API waits for the broker when publishing before it answers 503.
    publish_timeout: float = Field(default=1.0, gt=0, le=10)
    # Beat runs the idempotency-key purge this often (seconds).
    purge_interval: int = Field(default=3600, ge=60)

    @model_validator(mode="after")
    def _limits_fit(self) -> Self:
        if self.soft_time_limit >= self.time_limit:
            raise ValueError("CELERY_SOFT_TIME_LIMIT must be below CELERY_TIME_LIMIT")
        if self.visibility_timeout <= self.time_limit:
            raise ValueError(
                "CELERY_VISIBILITY_TIMEOUT must exceed CELERY_TIME_LIMIT, or Redis redelivers"
                " tasks that are still running"
            )
        return self

    def resolved_broker_url(self, redis_url: str | None) -> str:
        return self.broker_url or redis_url or f"sqla+sqlite:///{self.local_dir / 'broker.db'}"

    def resolved_result_backend(self, redis_url: str | None) -> str:
        return self.result_backend or redis_url or f"db+sqlite:///{self.local_dir / 'results.db'}"
