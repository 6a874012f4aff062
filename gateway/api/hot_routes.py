"""HotRoutes: POST /v1/completions and POST /v1/events dispatched as plain ASGI, ahead of FastAPI's router.

These two routes carry nearly all traffic. The handlers are the route functions themselves, with the
same caller dependency and the same error bodies; what is skipped is FastAPI's per-request machinery
around them (route matching over every route, the dependency solver, the exception and exit-stack
middleware), ~0.3 ms of CPU per completion on the 2-core host (benchmarks/gateway_overhead.py).
Every other path or method, and these routes' OpenAPI entries, stay with FastAPI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.api.responses import error_response
from gateway.deps import ApiError, get_caller
from gateway.service.contracts import Caller

Handler = Callable[[Request, Caller], Awaitable[Response]]


def hot_route_table(app: FastAPI, handlers: Mapping[str, Handler]) -> dict[str, tuple[Handler, APIRoute]]:
    """Pair each POST path's handler with its registered APIRoute (so a hot route always mirrors a real one)."""
    routes = {r.path: r for r in app.router.routes if isinstance(r, APIRoute) and "POST" in r.methods}
    return {path: (handler, routes[path]) for path, handler in handlers.items()}


class HotRoutes:
    """Serves the table's POST paths directly; everything else goes on to FastAPI unchanged."""

    def __init__(self, app: ASGIApp, *, table: Mapping[str, tuple[Handler, APIRoute]]) -> None:
        self.app = app
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self.table.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if hot is None or scope.get("root_path"):  # a mounted app matches on the path below its root: the router's job
            await self.app(scope, receive, send)
            return
        handler, route = hot
        scope["route"] = route  # as the router sets it: EdgeMiddleware labels metrics with the route template
        request = Request(scope, receive)
        try:
            response = await handler(request, await get_caller(request))
        except ApiError as exc:  # what the app's ApiError handler does on the FastAPI path
            response = error_response(exc.err)
        await response(scope, receive, send)
