"""Races that HTTP cannot provoke deterministically, driven through the service directly."""

from decimal import Decimal

import pytest

from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.items import service
from app.items.errors import ItemConcurrentUpdateError
from app.items.models import Item
from app.items.schemas import ItemUpdate


async def test_a_write_based_on_a_stale_read_is_refused(settings: Settings) -> None:
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with sessionmaker() as first, sessionmaker() as second:
            item = Item(name="Widget", price=Decimal("1.00"), quantity=1)
            first.add(item)
            await first.commit()
            stale = await service.get_item(second, item.id)  # `second` now holds version 1

            await service.update_item(first, item.id, ItemUpdate(quantity=2), if_match=None)
            with pytest.raises(ItemConcurrentUpdateError):
                await service.update_item(second, item.id, ItemUpdate(quantity=5), if_match=None)

            await second.refresh(stale)
            assert (stale.quantity, stale.version) == (2, 2)
    finally:
        await engine.dispose()
