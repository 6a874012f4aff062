"""The HTTP hop to the model server, behind one small interface with two implementations.

`H1Backend` (gateway.upstream.h1) is what the gateway runs: the gateway's CPU per request is what
its added latency is made of under load, and per completion call httpx costs ~1.1 ms of CPU on the
2-core host, aiohttp ~0.3 ms and that small client ~0.12 ms (benchmarks/gateway_overhead.py).
`HttpxBackend` serves an injected httpx transport (fault-injection tests only: `create_app`'s
`upstream_transport`).

Both raise one of three `UpstreamFailure`s, so VllmClient maps failures to HTTP errors in one place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal, Protocol

import httpx

# Keep pooled connections for less time than the server does (uvicorn, which vLLM runs on, closes
# idle keep-alive connections after 5 s): reusing one the server is closing can fail the request.
POOL_IDLE_S = 4.0
# Enough connections for the highest concurrency we serve, so no request pays a TCP handshake.
POOL_SIZE = 512

FailureKind = Literal["timeout", "unreachable", "failed"]


class UpstreamFailure(Exception):
    """timeout: no answer before the deadline; unreachable: no connection; failed: anything else."""

    def __init__(self, kind: FailureKind, cause: BaseException) -> None:
        super().__init__(kind)
        self.kind = kind
        self.cause_name = type(cause).__name__


class StreamedResponse(Protocol):
    status: int

    async def read(self) -> bytes: ...

    def lines(self) -> AsyncIterator[bytes]: ...


class UpstreamHttp(Protocol):
    async def post(self, url: str, body: bytes, *, timeout_s: float) -> tuple[int, bytes]: ...

    async def get(self, url: str, *, timeout_s: float) -> tuple[int, bytes]: ...

    def stream(self, url: str, body: bytes, *, timeout_s: float) -> Any:
        """An async context manager yielding a StreamedResponse; `timeout_s` bounds each wait for data."""
        ...

    async def aclose(self) -> None: ...


_JSON = {"content-type": "application/json"}


# --- httpx (fault-injection tests)
def _httpx_failure(exc: httpx.HTTPError) -> UpstreamFailure:
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)):
        return UpstreamFailure("unreachable", exc)
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamFailure("timeout", exc)
    return UpstreamFailure("failed", exc)


class _HttpxStream:
    def __init__(self, resp: httpx.Response) -> None:
        self._resp = resp
        self.status = resp.status_code

    async def read(self) -> bytes:
        try:
            return await self._resp.aread()
        except httpx.HTTPError as exc:
            raise _httpx_failure(exc) from exc

    async def lines(self) -> AsyncIterator[bytes]:
        try:
            async for line in self._resp.aiter_lines():
                yield line.encode()
        except httpx.HTTPError as exc:
            raise _httpx_failure(exc) from exc


class HttpxBackend:
    def __init__(
        self, *, transport: Any = None, connect_timeout_s: float, headers: dict[str, str] | None = None
    ) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=connect_timeout_s), transport=transport, headers=headers
        )

    async def post(self, url: str, body: bytes, *, timeout_s: float) -> tuple[int, bytes]:
        try:
            resp = await self._client.post(url, content=body, headers=_JSON, timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise _httpx_failure(exc) from exc
        return resp.status_code, resp.content

    async def get(self, url: str, *, timeout_s: float) -> tuple[int, bytes]:
        try:
            resp = await self._client.get(url, timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise _httpx_failure(exc) from exc
        return resp.status_code, resp.content

    @asynccontextmanager
    async def stream(self, url: str, body: bytes, *, timeout_s: float) -> AsyncIterator[_HttpxStream]:
        try:
            async with self._client.stream("POST", url, content=body, headers=_JSON, timeout=timeout_s) as resp:
                yield _HttpxStream(resp)
        except httpx.HTTPError as exc:
            raise _httpx_failure(exc) from exc

    async def aclose(self) -> None:
        await self._client.aclose()
