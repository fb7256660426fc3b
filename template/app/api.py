"""The API router: one include per domain or feature."""

from fastapi import APIRouter

from app.items.router import router as items_router

api_router = APIRouter(prefix="/api")
api_router.include_router(items_router)
