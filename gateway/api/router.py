"""api_router: every route module of the gateway, in one place."""

from fastapi import APIRouter

from gateway.api.routes import completions, health, models

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(models.router)
api_router.include_router(completions.router)
