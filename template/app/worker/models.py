"""The stored result of an items export: one row per task, created when the task is queued."""

import uuid
from datetime import datetime

from sqlalchemy import Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, UTCDateTime, utcnow


class ItemExport(Base):
    __tablename__ = "item_exports"

    # Also the Celery task id, so a status request needs no second lookup.
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Who asked, copied from the request context: only they may read the status or the file.
    owner_id: Mapped[str | None] = mapped_column(String(255))
    tenant_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # How many times a worker started this task; bounds redelivery of a task that kills it.
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    row_count: Mapped[int | None] = mapped_column(Integer)
    content: Mapped[str | None] = mapped_column(Text)


class WelcomeMessage(Base):
    """The outbox of welcome messages: one row per registered user, whoever delivers it.

    The unique user id is what makes the task idempotent: a redelivered task finds the row.
    Sending (SMTP, a mail API) is the project's to add; the row is what a sender would read.
    """

    __tablename__ = "welcome_messages"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
