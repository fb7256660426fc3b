"""Start-up and shutdown: open shared resources once, close them on the way out."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TypedDict

import structlog
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.core.logging import configure_logging
from app.core.redis import open_redis

logger = structlog.get_logger(__name__)


class State(TypedDict):
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis | None


def build_lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[State]]:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        # Again at start-up: the server configures its own loggers after importing the app.
        configure_logging(settings)
        async with AsyncExitStack() as stack:
            engine = create_engine(settings)
            stack.push_async_callback(engine.dispose)
            redis = await stack.enter_async_context(open_redis(settings.redis_url))
            logger.info("startup", environment=settings.environment)
            yield {
                "settings": settings,
                "engine": engine,
                "sessionmaker": create_sessionmaker(engine),
                "redis": redis,
            }
            logger.info("shutdown")

    return lifespan
