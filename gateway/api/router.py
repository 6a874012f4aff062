"""api_router: every route module of the gateway, in one place (FastAPI routes every path)."""

from fastapi import APIRouter

from gateway.api.routes import completions, events, experiments, health, models, scan

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(models.router)
api_router.include_router(completions.router)
api_router.include_router(events.router)
api_router.include_router(experiments.router)
api_router.include_router(scan.router)
