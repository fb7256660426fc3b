"""Who a task runs for: the caller's principal subject and tenant travel as message headers.

The API adds them when it publishes (`context_headers()`); the worker re-enters them around
the task body (`task_context(...)`), so tenant-scoped queries, log lines and ownership checks
inside a task see the same caller as the request that queued it. Roles are not carried: the
request was authorised when the task was queued, and a task must not gain rights later.
"""

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from typing import Any

import structlog

from app.core.principal import Principal
from app.core.tenant import current_tenant_id, tenant_scope

SUBJECT_HEADER = "principal_subject"
TENANT_HEADER = "tenant_id"

_task_principal: ContextVar[Principal | None] = ContextVar("task_principal", default=None)


def task_principal() -> Principal | None:
    """The principal a running task acts for, or None when it was queued anonymously."""
    return _task_principal.get()


def context_headers(principal: Principal | None) -> dict[str, str]:
    """Message headers that carry the caller's context; absent values are left out."""
    headers: dict[str, str] = {}
    if principal is not None:
        headers[SUBJECT_HEADER] = principal.subject
    if (tenant_id := current_tenant_id()) is not None:
        headers[TENANT_HEADER] = tenant_id
    return headers


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@contextmanager
def task_context(headers: Mapping[str, Any]) -> Iterator[None]:
    """Run the body as the caller recorded in `headers` (tenant scope, principal, log lines)."""
    subject = _text(headers.get(SUBJECT_HEADER))
    tenant_id = _text(headers.get(TENANT_HEADER))
    principal = None if subject is None else Principal(subject=subject, tenant_id=tenant_id)
    token = _task_principal.set(principal)
    try:
        with ExitStack() as stack:
            if tenant_id is not None:
                stack.enter_context(tenant_scope(tenant_id))
            if subject is not None:
                stack.enter_context(structlog.contextvars.bound_contextvars(subject=subject))
            yield
    finally:
        _task_principal.reset(token)
