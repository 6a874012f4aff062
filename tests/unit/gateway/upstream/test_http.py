"""The upstream client (AiohttpBackend, the only one the gateway runs) over real loopback HTTP.

Every way an upstream can fail maps to its code (503 / 504 / 502, never a 500): against
fault-injection servers (named fakes, not vLLM): aiohttp web apps, and raw sockets where a server
must misbehave at the byte level (framing, hang-ups, oversized or malformed answers, TLS).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from fakes import FakeHangingUpstream
from gateway.protocol.base import ErrorResponse
from gateway.upstream.http import AiohttpBackend, UpstreamFailure
from gateway.upstream.vllm_client import UpstreamCompletion, VllmClient

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def fault_server(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """A fault-injection HTTP(S) server on a free loopback port answering every path with `handler`."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
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
        async with fault_server(handler) as url:
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


# --- At the byte level: connection reuse, framing, and how a misbehaving server maps
class ScriptedUpstream:
    """A raw-socket HTTP server: `answer(connection_no, request_no)` gives the bytes to send for each
    request read (None: close the connection without answering). After sending, the connection stays
    open unless `close_after`."""

    def __init__(self, answer: Callable[[int, int], bytes | None], *, close_after: bool = False) -> None:
        self._answer = answer
        self._close_after = close_after
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.connections = 0
        self.requests: list[bytes] = []  # each request as received: head and body
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn, self.connections), daemon=True).start()

    def _talk(self, conn: socket.socket, number: int) -> None:
        with conn, contextlib.suppress(OSError):  # a client that resets the connection ends the talk
            buffer, requests = b"", 0
            while True:
                head_end = buffer.find(b"\r\n\r\n")
                if head_end == -1:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                    continue
                length = int(re.search(rb"(?i)content-length: *(\d+)", buffer[:head_end]).group(1) or 0)  # type: ignore[union-attr]
                if len(buffer) < head_end + 4 + length:
                    buffer += conn.recv(65536)
                    continue
                self.requests.append(buffer[: head_end + 4 + length])
                buffer = buffer[head_end + 4 + length :]
                requests += 1
                reply = self._answer(number, requests)
                if reply is None:
                    return
                conn.sendall(reply)
                if self._close_after:
                    return

    def close(self) -> None:
        self._sock.close()


_OK = b'{"choices": [{"index": 0, "text": "ok", "finish_reason": "stop"}]}'


def _http(body: bytes, *extra: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" + b"".join(extra) + b"\r\n" + body


def _calls(url: str, n: int, timeout_s: float = 5.0) -> list[Any]:
    async def run(client: VllmClient) -> list[Any]:
        return [await client.complete({"prompt": "x"}) for _ in range(n)]

    return asyncio.run(_with_client(url, run, timeout_s))


def _scripted_calls(script: Any, n: int, **server_options: Any) -> tuple[list[Any], int]:
    """n calls against a ScriptedUpstream running `script`: the results and the connections it saw."""
    server = ScriptedUpstream(script, **server_options)
    try:
        return _calls(server.url, n), server.connections
    finally:
        server.close()


def test_one_connection_serves_consecutive_calls_whatever_the_framing() -> None:
    framed = [
        _http(_OK, b"content-length: %d\r\n" % len(_OK)),
        _http(b"%x\r\n%s\r\n0\r\n\r\n" % (len(_OK), _OK), b"transfer-encoding: chunked\r\n"),
    ]
    results, connections = _scripted_calls(lambda _conn, request: framed[(request - 1) % 2], 4)
    assert all(isinstance(r, UpstreamCompletion) and r.body["choices"][0]["text"] == "ok" for r in results)
    assert connections == 1


def test_a_connection_idle_longer_than_the_pool_keeps_it_is_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway.upstream.http.POOL_IDLE_S", 0.0)  # every pooled connection is already too old
    results, connections = _scripted_calls(lambda _conn, _request: _http(_OK, b"content-length: %d\r\n" % len(_OK)), 3)
    assert all(isinstance(r, UpstreamCompletion) for r in results)
    assert connections == 3


def test_a_close_delimited_answer_is_complete_when_the_server_closes() -> None:
    results, connections = _scripted_calls(
        lambda _conn, _request: _http(_OK, b"connection: close\r\n"), 2, close_after=True
    )
    assert all(isinstance(r, UpstreamCompletion) for r in results)
    assert connections == 2  # not reused: the answer ended with the connection


def test_a_pooled_connection_the_server_dropped_is_retried_once_on_a_new_one() -> None:
    # The second request on the first connection is read and the connection closed unanswered: what
    # a server whose keep-alive ran out does. The client retries it on a new connection.
    ok = _http(_OK, b"content-length: %d\r\n" % len(_OK))
    results, connections = _scripted_calls(lambda conn, request: None if (conn, request) == (1, 2) else ok, 3)
    assert all(isinstance(r, UpstreamCompletion) for r in results)
    assert connections == 2


def test_a_server_that_hangs_up_maps_to_503_before_an_answer_and_502_during_one() -> None:
    silent = ScriptedUpstream(lambda _conn, _request: None)
    cut = ScriptedUpstream(lambda _c, _r: _http(_OK[:10], b"content-length: %d\r\n" % len(_OK)), close_after=True)
    try:
        before = _calls(silent.url, 1)[0]
        during = _calls(cut.url, 1)[0]
    finally:
        silent.close()
        cut.close()
    assert isinstance(before, ErrorResponse) and (before.status, before.code) == (503, "upstream_unavailable")
    assert isinstance(during, ErrorResponse) and (during.status, during.code) == (502, "upstream_error")


def test_a_stream_that_stalls_is_a_504_after_the_read_timeout() -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    first = b'data: {"choices": [{"index": 0, "text": "a"}]}\n\n'
    server = ScriptedUpstream(lambda _conn, _request: head + b"%x\r\n%s\r\n" % (len(first), first))
    try:
        chunks = asyncio.run(_with_client(server.url, _collect, timeout_s=0.3))
    finally:
        server.close()
    assert chunks[0] == {"choices": [{"index": 0, "text": "a"}]}
    assert isinstance(chunks[1], ErrorResponse) and chunks[1].code == "upstream_timeout"


def test_a_client_that_goes_away_closes_the_upstream_connection() -> None:
    hanging = FakeHangingUpstream()

    async def run(client: VllmClient) -> None:
        task = asyncio.create_task(client.complete({"prompt": "x"}))
        await asyncio.sleep(0.3)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    try:
        asyncio.run(_with_client(hanging.url, run))
        deadline = time.monotonic() + 5
        while not hanging.closed_by_peer and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        hanging.close()
    assert hanging.closed_by_peer, "the upstream request outlived its caller"


def test_a_request_carries_the_configured_headers_and_its_exact_body() -> None:
    ok = _http(_OK, b"content-length: %d\r\n" % len(_OK))
    server = ScriptedUpstream(lambda _conn, _request: ok)

    async def run() -> tuple[int, bytes]:
        backend = AiohttpBackend(connect_timeout_s=1.0, headers={"Authorization": "Bearer upstream-key"})
        try:
            return await backend.post(f"{server.url}/v1/completions?x=1", b'{"prompt":"\xc3\xa9"}', timeout_s=5.0)
        finally:
            await backend.aclose()

    try:
        status, body = asyncio.run(run())
    finally:
        server.close()
    assert (status, body) == (200, _OK)
    head, _, sent = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/completions?x=1 HTTP/1.1"
    port = server.url.rsplit(":", 1)[1].encode()
    assert (
        {
            b"Host: 127.0.0.1:" + port,
            b"Authorization: Bearer upstream-key",
            b"Content-Type: application/json",
            b"Content-Length: %d" % len(sent),
            b"Accept-Encoding: identity",  # nothing compressed comes back to be inflated
        }
        <= set(lines[1:])
    )
    assert not any(line.lower().startswith(b"cookie") for line in lines)
    assert sent == b'{"prompt":"\xc3\xa9"}'


def test_header_values_with_line_breaks_are_refused() -> None:
    with pytest.raises(ValueError, match="line breaks"):
        AiohttpBackend(connect_timeout_s=1.0, headers={"Authorization": "Bearer x\r\nX-Injected: 1"})


def test_urls_other_than_http_are_failures_not_crashes() -> None:
    async def run() -> None:
        backend = AiohttpBackend(connect_timeout_s=1.0)
        try:
            with pytest.raises(UpstreamFailure) as info:
                await backend.post("ftp://127.0.0.1/v1/completions", b"{}", timeout_s=1.0)
            assert info.value.kind == "failed"
        finally:
            await backend.aclose()

    asyncio.run(run())


def test_an_oversized_answer_is_a_502_however_it_is_framed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway.upstream.http.MAX_ANSWER_BYTES", 4096)
    declared = _http(b"{}", b"content-length: %d\r\n" % (1 << 30))  # refused before reading a byte of it
    big = b"[" + b"1," * 3000 + b"1]"
    chunked = _http(b"%x\r\n%s\r\n0\r\n\r\n" % (len(big), big), b"transfer-encoding: chunked\r\n")
    for answer in (declared, chunked):
        (result,), _ = _scripted_calls(lambda _c, _r, answer=answer: answer, 1)
        assert isinstance(result, ErrorResponse), answer[:80]
        assert (result.status, result.code) == (502, "upstream_error") and "AnswerTooLarge" in result.message


def test_a_stream_line_or_stream_too_long_ends_it_with_a_502(monkeypatch: pytest.MonkeyPatch) -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    first = b'data: {"choices": []}\n\n'
    endless = b"data: " + b"x" * (1 << 20)  # 1 MiB and no line end: never buffered whole
    answer = head + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (first, endless)) + b"0\r\n\r\n"
    server = ScriptedUpstream(lambda _conn, _request: answer)
    try:
        chunks = asyncio.run(_with_client(server.url, _collect))
        monkeypatch.setattr("gateway.upstream.http.MAX_ANSWER_BYTES", 64)  # every line is short, the stream is not
        many = head + b"".join(b"%x\r\n%s\r\n" % (len(first), first) for _ in range(10)) + b"0\r\n\r\n"
        server_many = ScriptedUpstream(lambda _conn, _request: many)
        try:
            capped = asyncio.run(_with_client(server_many.url, _collect))
        finally:
            server_many.close()
    finally:
        server.close()
    assert chunks[0] == {"choices": []} and len(chunks) == 2
    assert isinstance(chunks[1], ErrorResponse) and (chunks[1].status, chunks[1].code) == (502, "upstream_error")
    assert isinstance(capped[-1], ErrorResponse) and "AnswerTooLarge" in capped[-1].message
    assert len(capped) < 10


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 two hundred OK\r\ncontent-length: 2\r\n\r\n{}",  # no status code
        b"garbage that is not HTTP at all\r\n\r\n",
        _http(b"{}", b"content-length: 2x\r\n"),  # a length that is not a number
        _http(b"zz\r\n{}\r\n0\r\n\r\n", b"transfer-encoding: chunked\r\n"),  # a chunk size that is not hex
        _http(b"{}", b"content-length: 2\r\n", b"x-big: " + b"a" * 20000 + b"\r\n"),  # one header of 20 kB
    ],
)
def test_a_malformed_answer_is_a_502(answer: bytes) -> None:
    (result,), _ = _scripted_calls(lambda _c, _r: answer, 1, close_after=True)
    assert isinstance(result, ErrorResponse) and (result.status, result.code) == (502, "upstream_error"), result


def test_a_redirect_is_not_followed() -> None:
    redirect = b"HTTP/1.1 307 Temporary Redirect\r\nlocation: http://169.254.169.254/\r\ncontent-length: 0\r\n\r\n"
    (result,), _ = _scripted_calls(lambda _c, _r: redirect, 1)
    assert isinstance(result, ErrorResponse) and (result.status, result.code) == (502, "upstream_error")
    assert "307" in result.message


def test_an_upstream_certificate_nobody_signed_is_refused(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    body = json.dumps({"choices": [{"index": 0, "text": "1", "finish_reason": "stop"}]}).encode()

    async def run() -> Any:
        async with fault_server(_answer(200, body), tls) as url:
            return await _with_client(url, lambda c: c.complete({"prompt": "x"}))

    result = asyncio.run(run())
    assert isinstance(result, ErrorResponse) and (result.status, result.code) == (502, "upstream_error")
    assert "Certificate" in result.message
