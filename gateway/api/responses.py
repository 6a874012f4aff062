"""Map service results (dicts, SSE iterators, ErrorResponse values) to Starlette responses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Any, TypeVar

from fastapi import Request
from starlette.responses import Response

from gateway.protocol.base import ErrorResponse

T = TypeVar("T")


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status, media_type="application/json")


def error_response(err: ErrorResponse) -> Response:
    return Response(json.dumps(err.body()), status_code=err.status, media_type="application/json", headers=err.headers)


async def _wait_for_disconnect(request: Request) -> None:
    # The body has been read, so the next ASGI message can only be the client going away.
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T | None:
    """Run `work`; if the client disconnects first, cancel it (and with it the upstream request)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_wait_for_disconnect(request))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if task in done:
        return task.result()
    task.cancel()
    return None
