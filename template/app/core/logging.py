"""Structured logs: JSON in production, readable in development, request id on every line.

Standard-library loggers (uvicorn, SQLAlchemy, Alembic) go through the same processors,
so every line has one format. Values under sensitive keys are redacted before rendering.
The access log, one line per request, writes JSON lines itself, with the same processors,
and skips the standard-library bridge: a record, a handler and a formatter per request cost
about as much as the rest of the request's middleware.
"""

import functools
import logging
import re
import sys
import time
from collections.abc import Mapping
from typing import Any

import structlog
from asgi_correlation_id import correlation_id
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.types import EventDict, Processor, WrappedLogger

from app.core.config import Settings
from app.core.tenant import current_tenant_id

REDACTED = "[REDACTED]"
SENSITIVE_KEY = re.compile(
    r"pass(word|wd)?|secret|token|authorization|cookie|api[-_]?key|credential|private",
    re.IGNORECASE,
)
# Credentials inside URLs such as postgresql://user:password@host/db.
URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@")
URL_REDACTED = rf"\g<scheme>\g<user>:{REDACTED}@"
ACCESS_LOGGER = "app.access"


# Log lines reuse a small set of keys: each is checked once (bounded, keys can be anything).
@functools.lru_cache(maxsize=4096)
def _is_sensitive(key: str) -> bool:
    return SENSITIVE_KEY.search(key) is not None


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            key: REDACTED if _is_sensitive(str(key)) else _redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    # The substring test is cheap; most strings cannot hold a URL with credentials.
    if isinstance(value, str) and "://" in value:
        return URL_CREDENTIALS.sub(URL_REDACTED, value)
    return value


def redact_sensitive(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    return {
        key: REDACTED if key != "event" and _is_sensitive(key) else _redact(value)
        for key, value in event_dict.items()
    }


def add_request_id(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    request_id = correlation_id.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def add_access_logger_name(
    _logger: WrappedLogger, _method: str, event_dict: EventDict
) -> EventDict:
    event_dict["logger"] = ACCESS_LOGGER
    return event_dict


class _AccessLog:
    """The access log's logger; configure_logging replaces it (tests, server start)."""

    logger: Any = structlog.get_logger(ACCESS_LOGGER)


def configure_logging(settings: Settings) -> None:
    stamped: list[Processor] = [
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_request_id,
        redact_sensitive,
    ]
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        *stamped,
    ]
    renderer: Processor
    if settings.resolved_log_format == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
        _AccessLog.logger = structlog.wrap_logger(
            structlog.WriteLogger(sys.stdout),
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                add_access_logger_name,
                *stamped,
                renderer,
            ],
            wrapper_class=structlog.make_filtering_bound_logger(settings.log_level),
            cache_logger_on_first_use=True,
        )
    else:
        # Plain tracebacks: rich's default shows every frame's local variables, which puts
        # passwords and tokens in the log past redaction (and takes seconds per traceback).
        renderer = structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
        _AccessLog.logger = structlog.get_logger(ACCESS_LOGGER)

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Loggers re-read the configuration, so reconfiguring (tests, server start) applies.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # AccessLogMiddleware writes one line per request with the request id; uvicorn's own
    # access log would repeat it without one.
    logging.getLogger("uvicorn.access").disabled = True


class AccessLogMiddleware:
    """One structured line per HTTP request: method, path, status, duration, client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500
        tenant: dict[str, str] = {}

        async def capture_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                # The response starts inside the request's tenant scope, which has ended by
                # the time this line is written.
                if (tenant_id := current_tenant_id()) is not None:
                    tenant["tenant_id"] = tenant_id
            await send(message)

        try:
            await self.app(scope, receive, capture_status)
        finally:
            client = scope.get("client")
            _AccessLog.logger.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                client=client[0] if client else None,
                **tenant,
            )
