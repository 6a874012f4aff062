"""Pure-ASGI middleware: request header and body size limits (431, 413) and per-route Prometheus
metrics, in one layer.

Headers: uvicorn's httptools parser has no header size limit (h11's is 16 KiB), so a 1 MiB
X-Machine-Id or bearer token reached the app (issue 13). Here any request whose headers total more
than MAX_HEADER_BYTES gets our JSON 431 before the app sees it. What the HTTP parser itself refuses
(CR/LF/NUL in a header value, a malformed request line, two Content-Length headers, Content-Length
with Transfer-Encoding) never reaches ASGI: under `codesieve serve` gateway.http_protocol answers
those with a 400 in our envelope and closes the connection (plain uvicorn answers them in plain text).

Pure ASGI rather than BaseHTTPMiddleware: it adds microseconds, not a task per request, and it
does not break streaming or client-disconnect propagation. One layer rather than two: every layer
wraps `send` and `receive` again, and the event route is cheap enough for that to show.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.metrics import GatewayMetrics
from gateway.protocol.base import ErrorResponse

# Browsers and proxies send a few KiB; nginx's default large_client_header_buffers is 4 x 8 KiB.
MAX_HEADER_BYTES = 32 * 1024


async def send_error(send: Send, err: ErrorResponse) -> None:
    body = json.dumps(err.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in (err.headers or {}).items()]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass


# Lingering close for 413s: a client that writes its whole body before reading (Python's urllib,
# most simple clients) sees a connection reset, not the 413, when the server answers and closes
# mid-upload. So the rest of an oversize body is read and dropped before the answer, up to these
# bounds; past them the answer goes out anyway. A client that sent `Expect: 100-continue` (curl)
# has sent no body yet and is answered at once.
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
DRAIN_TIMEOUT_S = 10.0


async def _drain(receive: Receive, scope: Scope, seen: int = 0) -> None:
    if any(name == b"expect" for name, _ in scope["headers"]):
        return

    async def discard() -> None:
        total = seen
        while total <= DRAIN_LIMIT_BYTES:
            message = await receive()
            if message["type"] != "http.request":
                return
            total += len(message.get("body", b""))
            if not message.get("more_body"):
                return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(discard(), DRAIN_TIMEOUT_S)


class EdgeMiddleware:
    """Refuses bodies over `max_body_bytes` (413) and records every response's route, status and latency."""

    def __init__(self, app: ASGIApp, *, metrics: GatewayMetrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max = max_body_bytes
        # Labelled children by (route, status): prometheus_client's labels() takes a lock and builds
        # a key on every call; routes x statuses is a small, bounded set.
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}

    def _too_large(self) -> ErrorResponse:
        return ErrorResponse(413, "body_too_large", f"request bodies are limited to {self.max} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        status = 500
        try:
            status = await self._limited(scope, receive, send)
        finally:
            route: Any = scope.get("route")
            # The route template, never the raw path: ids in paths would explode label cardinality.
            name = getattr(route, "path", "unmatched")
            children = self._children.get((name, status))
            if children is None:
                children = (self.metrics.requests.labels(name, str(status)), self.metrics.request_latency.labels(name))
                self._children[(name, status)] = children
            children[0].inc()
            children[1].observe(time.perf_counter() - started_at)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> int:
        """Run the app under the body limit; returns the response status."""
        header_bytes = 0
        for name, value in scope["headers"]:
            header_bytes += len(name) + len(value)
            if name == b"content-length" and value.isdigit() and int(value) > self.max:
                if int(value) <= DRAIN_LIMIT_BYTES:
                    await _drain(receive, scope)
                await send_error(send, self._too_large())
                return 413
        if header_bytes > MAX_HEADER_BYTES:
            await send_error(
                send,
                ErrorResponse(431, "headers_too_large", f"request headers are limited to {MAX_HEADER_BYTES} bytes"),
            )
            return 431
        seen = 0
        status = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max:  # chunked upload without Content-Length
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not status:
                await _drain(receive, scope, seen)
                await send_error(send, self._too_large())
                return 413
        return status or 500
