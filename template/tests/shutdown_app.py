"""The app plus two test routes, served by real uvicorn processes in test_shutdown.py."""

import asyncio

from sqlalchemy import text

from app.core.db import SessionDep
from app.main import create_app

SLOW_SECONDS = 1.5
WORK_SECONDS = 0.05

app = create_app()


async def slow() -> dict[str, str]:
    await asyncio.sleep(SLOW_SECONDS)
    return {"status": "done"}


async def work(session: SessionDep) -> dict[str, int]:
    """A typical read: a query, and a pooled connection held for a moment."""
    value = await session.scalar(text("SELECT 1"))
    await asyncio.sleep(WORK_SECONDS)
    return {"value": int(value or 0)}


app.add_api_route("/slow", slow)
app.add_api_route("/work", work)
