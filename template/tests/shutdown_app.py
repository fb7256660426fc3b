"""The app plus one slow route, served by a real uvicorn process in test_shutdown.py."""

import asyncio

from app.main import create_app

SLOW_SECONDS = 1.5

app = create_app()


async def slow() -> dict[str, str]:
    await asyncio.sleep(SLOW_SECONDS)
    return {"status": "done"}


app.add_api_route("/slow", slow)
