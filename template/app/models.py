"""Every model, imported in one place so Alembic's autogenerate sees the whole schema."""

from app.core.idempotency import IdempotencyRecord
from app.core.models import Base
from app.items.models import Item

__all__ = ["Base", "IdempotencyRecord", "Item"]
