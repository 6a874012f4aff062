"""api_router: every route module of the gateway, in one place; HOT_ROUTES: the ones served ahead of it."""

from fastapi import APIRouter

from gateway.api.routes import completions, events, experiments, health, models, scan

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(models.router)
api_router.include_router(completions.router)
api_router.include_router(events.router)
api_router.include_router(experiments.router)
api_router.include_router(scan.router)

# The busiest routes (POST), dispatched by gateway.api.hot_routes without FastAPI's routing machinery.
HOT_ROUTES = {
    "/v1/completions": completions.create_completion,
    "/v1/events": events.post_events,
}
