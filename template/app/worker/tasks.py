"""What the tasks do, as plain functions of a database session (the Celery wiring is in
app/worker/celery_app.py). Each one is idempotent: a broker may deliver a task twice (a worker
died before acknowledging it), and the second delivery must change nothing.
"""

import csv
import io
import uuid
from collections.abc import Iterable
from datetime import timedelta

import structlog
from sqlalchemy import Select, delete, false, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.idempotency import IdempotencyRecord
from app.core.models import utcnow
from app.items.models import Item
from app.worker.models import ItemExport, WelcomeMessage

logger = structlog.get_logger(__name__)

EXPORT_COLUMNS = ("id", "name", "description", "price", "quantity", "created_at", "updated_at")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EXPORT_BATCH_SIZE = 1000


class DeliveriesExhaustedError(Exception):
    """The task's worker died on every attempt: give up instead of crashing workers forever."""


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


def items_csv(items: Iterable[Item]) -> tuple[str, int]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for item in items:
        writer.writerow([_cell(getattr(item, column)) for column in EXPORT_COLUMNS])
        count += 1
    return buffer.getvalue(), count


def readable_items(owner_id: str | None) -> Select[Item]:
    """The items whoever started the export may read.

    Where items belong to users (auth adds `items.owner_id`), that is the caller's own and
    nothing for an anonymous caller, as the items API answers them. Roles do not travel with
    a task (see app/worker/context.py), so an admin's export holds their own items too.
    """
    statement = select(Item)
    owner_column = getattr(Item, "owner_id", None)
    if owner_column is None:
        return statement
    owner = _as_uuid(owner_id)
    return statement.where(false() if owner is None else owner_column == owner)


def _as_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return None if value is None else uuid.UUID(value)
    except ValueError:
        return None  # a principal that is not one of our users owns no items


def export_items(session: Session, export_id: uuid.UUID, *, max_deliveries: int) -> int | None:
    """Write the CSV of the items into the export row; return its row count.

    None when the export row is gone (the API removed it after the broker refused the task).
    """
    # Counted in its own transaction, so a worker killed mid-task still leaves the count.
    session.execute(
        update(ItemExport)
        .where(ItemExport.id == export_id)
        .values(deliveries=ItemExport.deliveries + 1)
    )
    session.commit()
    export = session.get(ItemExport, export_id)
    if export is None:
        logger.warning("export_missing", export_id=str(export_id))
        return None
    if export.content is not None:
        logger.info("export_already_done", export_id=str(export_id))
        return export.row_count
    if export.deliveries > max_deliveries:
        raise DeliveriesExhaustedError(f"gave up after {max_deliveries} deliveries")
    # Runs inside the caller's tenant scope, so tenancy's query criteria apply here too.
    items = session.scalars(
        readable_items(export.owner_id)
        .order_by(Item.created_at, Item.id)
        .execution_options(yield_per=EXPORT_BATCH_SIZE)
    )
    content, count = items_csv(items)
    # `content IS NULL`: of two deliveries racing, exactly one writes the result.
    session.execute(
        update(ItemExport)
        .where(ItemExport.id == export_id, ItemExport.content.is_(None))
        .values(content=content, row_count=count, completed_at=utcnow())
    )
    session.commit()
    logger.info("export_done", export_id=str(export_id), rows=count)
    return count


def purge_idempotency_records(session: Session, *, ttl_seconds: int) -> int:
    """Delete Idempotency-Key records past their lifetime; return how many went."""
    cutoff = utcnow() - timedelta(seconds=ttl_seconds)
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    session.commit()
    purged = int(getattr(result, "rowcount", 0) or 0)
    logger.info("idempotency_records_purged", count=purged)
    return purged


def queue_welcome_message(session: Session, user_id: str) -> bool:
    """Put the welcome message of a new user in the outbox; False if it is there already."""
    exists = session.scalar(select(WelcomeMessage.id).where(WelcomeMessage.user_id == user_id))
    if exists is None:
        session.add(WelcomeMessage(user_id=user_id))
        try:
            session.commit()
        except IntegrityError:
            # Two deliveries raced; the unique user id let exactly one of them in.
            session.rollback()
        else:
            logger.info("welcome_message_queued", user_id=user_id)
            return True
    logger.info("welcome_message_already_queued", user_id=user_id)
    return False
