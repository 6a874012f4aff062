"""The production upstream client (aiohttp) over real loopback HTTP: every failure maps to its code.

The route tests drive VllmClient through an injected httpx transport; these drive the aiohttp
backend the gateway really runs, against fault-injection servers (named fakes, not vLLM).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from fakes import FakeHangingUpstream
from gateway.protocol.base import ErrorResponse
from gateway.upstream.http import AiohttpBackend
from gateway.upstream.vllm_client import UpstreamCompletion, VllmClient

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def fake_upstream(handler: Handler) -> AsyncIterator[str]:
    """A fault-injection HTTP server on a free loopback port answering every path with `handler`."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _with_client(url: str, fn: Callable[[VllmClient], Awaitable[Any]], timeout_s: float = 5.0) -> Any:
    backend = AiohttpBackend(connect_timeout_s=1.0)
    try:
        return await fn(VllmClient(backend, url, timeout_s=timeout_s))
    finally:
        await backend.aclose()


def _complete(url: str, timeout_s: float = 5.0) -> UpstreamCompletion | ErrorResponse:
    return asyncio.run(_with_client(url, lambda c: c.complete({"prompt": "x"}), timeout_s))


def _answer(status: int, body: bytes) -> Handler:
    async def handler(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=body, content_type="application/json")

    return handler


def _served(handler: Handler, fn: Callable[[VllmClient], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        async with fake_upstream(handler) as url:
            return await _with_client(url, fn)

    return asyncio.run(run())


def test_an_answer_is_parsed_and_timed() -> None:
    body = json.dumps({"choices": [{"index": 0, "text": "1", "finish_reason": "stop"}]}).encode()
    result = _served(_answer(200, body), lambda c: c.complete({"prompt": "x"}))
    assert isinstance(result, UpstreamCompletion)
    assert result.body["choices"][0]["text"] == "1" and result.latency_ms > 0


def test_error_statuses_and_garbage_map_to_stable_codes() -> None:
    rejected = _served(_answer(400, b'{"error": {"message": "too long"}}'), lambda c: c.complete({}))
    assert (rejected.status, rejected.code) == (400, "upstream_rejected") and "too long" in rejected.message
    failed = _served(_answer(500, b"boom"), lambda c: c.complete({}))
    assert (failed.status, failed.code) == (502, "upstream_error")
    garbage = _served(_answer(200, b"<html>not json"), lambda c: c.complete({}))
    assert (garbage.status, garbage.code) == (502, "upstream_bad_response")


def test_nothing_listening_is_503_and_no_answer_is_504() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    refused = _complete(f"http://127.0.0.1:{port}")
    assert isinstance(refused, ErrorResponse) and (refused.status, refused.code) == (503, "upstream_unavailable")
    hanging = FakeHangingUpstream()
    try:
        late = _complete(hanging.url, timeout_s=0.5)
    finally:
        hanging.close()
    assert isinstance(late, ErrorResponse) and (late.status, late.code) == (504, "upstream_timeout")


async def _sse(request: web.Request, lines: list[bytes]) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await resp.prepare(request)
    for line in lines:
        await resp.write(line)
    await resp.write_eof()
    return resp


async def _collect(client: VllmClient) -> list[Any]:
    return [item async for item in client.stream({"prompt": "x"})]


def test_a_stream_is_relayed_chunk_by_chunk_and_a_garbage_chunk_ends_it() -> None:
    good = [b'data: {"choices": [{"index": 0, "text": "a"}]}\n\n', b": keep-alive\n\n", b"data: [DONE]\n\n"]
    chunks = _served(lambda r: _sse(r, good), _collect)
    assert chunks == [{"choices": [{"index": 0, "text": "a"}]}]
    bad = [b'data: {"choices": []}\n\n', b"data: {not json\n\n", b'data: {"choices": []}\n\n']
    chunks = _served(lambda r: _sse(r, bad), _collect)
    assert chunks[0] == {"choices": []} and len(chunks) == 2
    assert isinstance(chunks[1], ErrorResponse) and chunks[1].code == "upstream_bad_response"
    refused = _served(_answer(503, b"busy"), _collect)
    assert len(refused) == 1 and refused[0].code == "upstream_error"


def test_models_and_health() -> None:
    models = _served(_answer(200, b'{"data": [{"id": "m1"}]}'), lambda c: c.models())
    assert models == ["m1"]
    assert _served(_answer(200, b"{}"), lambda c: c.is_healthy()) is True
    assert _served(_answer(500, b"{}"), lambda c: c.is_healthy()) is False
