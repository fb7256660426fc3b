"""Tenant isolation in every SQLAlchemy session of the process (app, scripts, workers, tests).

Layer 1, on every database: each ORM query touching a tenant-scoped model is filtered to the
current tenant (`with_loader_criteria`), new rows get the current tenant, and a write naming
another tenant is refused. With no tenant in context such a query raises instead of
returning everybody's rows.

Layer 2, on PostgreSQL: each transaction starts with `set_config('app.tenant_id', ..., true)`,
which the row-level security policies of the tenancy migration read. `true` makes it local
to the transaction, so a pooled connection never carries one request's tenant into the next.
"""

import uuid
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import (
    Mapper,
    ORMExecuteState,
    Session,
    SessionTransaction,
    UOWTransaction,
    with_loader_criteria,
)
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.util import find_tables

from app.core.models import Base
from app.core.tenant import current_tenant_id
from app.tenancy.models import TENANT_SCOPED

# Execution option for the rare query that must see every tenant (platform tooling, tests
# proving that PostgreSQL isolates even then). Row-level security still applies.
BYPASS_TENANT_FILTER = "bypass_tenant_filter"
SET_TENANT = text("SELECT set_config('app.tenant_id', :tenant_id, true)")


class TenantRequiredError(RuntimeError):
    """Tenant-scoped data was touched with no tenant in context: a bug, refused closed."""

    def __init__(self) -> None:
        super().__init__(
            "no current tenant: run this inside app.core.tenant.tenant_scope(...) "
            "(requests get one from the tenancy middleware)"
        )


class TenantMismatchError(RuntimeError):
    """A write names a tenant other than the current one."""

    def __init__(self) -> None:
        super().__init__("refusing to write a row of another tenant")


def is_tenant_scoped(mapper: Mapper[Any]) -> bool:
    column = mapper.columns.get("tenant_id")
    return column is not None and bool(column.info.get(TENANT_SCOPED))


def tenant_scoped_classes() -> list[type[Any]]:
    return [mapper.class_ for mapper in Base.registry.mappers if is_tenant_scoped(mapper)]


def _current_tenant_uuid() -> uuid.UUID:
    tenant_id = current_tenant_id()
    if tenant_id is None:
        raise TenantRequiredError
    return uuid.UUID(tenant_id)


def _touches_tenant_data(state: ORMExecuteState) -> bool:
    if any(is_tenant_scoped(mapper) for mapper in state.all_mappers):
        return True
    # Entities in FROM only (`select(func.count()).select_from(Item)`), joins and subqueries
    # are not among the statement's top-level mappers: look for the tables themselves.
    statement = state.statement
    if not isinstance(statement, ClauseElement):
        return False
    tables = find_tables(
        statement,
        check_columns=True,
        include_aliases=True,
        include_joins=True,
        include_selects=True,
        include_crud=True,
    )
    scoped = {model.__table__ for model in tenant_scoped_classes()}
    return any(table in scoped for table in tables)


@event.listens_for(Session, "do_orm_execute")
def _filter_by_tenant(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get(BYPASS_TENANT_FILTER, False):
        return
    if not _touches_tenant_data(state):
        return
    tenant = _current_tenant_uuid()
    state.statement = state.statement.options(
        *(
            with_loader_criteria(scoped, lambda cls: cls.tenant_id == tenant, include_aliases=True)
            for scoped in tenant_scoped_classes()
        )
    )


@event.listens_for(Session, "before_flush")
def _stamp_and_check_writes(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    for instance in session.new:
        if not is_tenant_scoped(instance.__mapper__):
            continue
        tenant = _current_tenant_uuid()
        if instance.tenant_id is None:
            instance.tenant_id = tenant
        elif instance.tenant_id != tenant:
            raise TenantMismatchError
    for instance in (*session.dirty, *session.deleted):
        # Loaded through the filter, so these are the current tenant's unless something
        # changed tenant_id (moving a row) or the context changed since the load.
        if is_tenant_scoped(instance.__mapper__) and instance.tenant_id != _current_tenant_uuid():
            raise TenantMismatchError


@event.listens_for(Session, "after_begin")
def _set_database_tenant(
    _session: Session, _transaction: SessionTransaction, connection: Connection
) -> None:
    if connection.dialect.name != "postgresql":
        return
    # Always set, '' when there is no tenant: the policies read that as "no rows".
    connection.execute(SET_TENANT, {"tenant_id": current_tenant_id() or ""})
