"""create_app(): the FastAPI application, its middleware and its error handlers; no logic."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from gateway import __version__
from gateway.api.responses import error_response
from gateway.api.router import api_router
from gateway.config import GatewaySettings, get_settings
from gateway.deps import ApiError
from gateway.lifespan import lifespan
from gateway.metrics import GatewayMetrics
from gateway.middleware import EdgeMiddleware
from gateway.protocol.base import ErrorResponse

log = logging.getLogger(__name__)


def _mount_console(app: FastAPI) -> None:
    """The operator console's pages and its stylesheet (imported only when the console is on)."""
    from pathlib import Path

    from starlette.staticfiles import StaticFiles

    from gateway.console.routes import router as console_router

    app.include_router(console_router)
    static = Path(__file__).parent / "console" / "static"
    app.mount("/console/static", StaticFiles(directory=static), name="console-static")


def create_app(
    settings: GatewaySettings | None = None,
    *,
    console_report: Callable[[str, str], dict[str, Any]] | None = None,
) -> FastAPI:
    """Build the app (its lifespan starts the upstream client, the database and the telemetry writer).

    `console_report` computes the console's live experiment report (gateway.console.reports.LiveReport);
    `codesieve serve` passes the A/B analysis's (codesieve/app.py). Without it the page says it has none.
    """
    settings = settings or get_settings()
    app = FastAPI(title="codesieve gateway", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.console_report = console_report
    app.state.metrics = GatewayMetrics()
    app.include_router(api_router)
    if settings.console_enabled:
        _mount_console(app)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> Response:
        return error_response(exc.err)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        param = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(ErrorResponse(400, "invalid_value", f"{param}: {first.get('msg')}", param=param))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(ErrorResponse(exc.status_code, code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> Response:
        # Log the type only: exception messages can carry request text (and so secrets).
        log.error("unhandled %s in request", type(exc).__name__, exc_info=settings.environment == "development")
        return error_response(ErrorResponse(500, "internal_error", "internal error; the gateway log has details"))

    app.add_middleware(EdgeMiddleware, metrics=app.state.metrics, max_body_bytes=settings.max_body_bytes)
    return app
