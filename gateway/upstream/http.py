"""The HTTP hop to the model server: one pooled aiohttp client, the only HTTP client the gateway runs.

Production and the route tests use this same client (the tests point it at a fault-injection HTTP
server on loopback). It does what an OpenAI-compatible model server needs: GET and JSON POST, a
keep-alive pool, TLS with certificate verification, a connect timeout, a total deadline for calls
and a per-read one for streams, and bounds on what an answer may make the gateway hold in memory.
No redirects, cookies, proxies from the environment or compression.

Cost: aiohttp takes ~0.14 ms of CPU per call on the 2-core host, twice the ~0.07 ms of the small
hand-written HTTP/1.1 client it replaced (gateway/upstream/h1.py, removed for issue 18): about
0.2 ms more gateway CPU per completion in benchmarks/gateway_overhead.py --stub. Issue 18 chose a
maintained client over that saving; the README's overhead row has the side-by-side figures.

Every failure becomes one of three `UpstreamFailure` kinds, decided in one place (`_failure`), so
VllmClient maps them to HTTP errors in one place too: no connection, or a server that hangs up
before answering, is "unreachable" (503); a missed deadline is "timeout" (504); anything else (a
broken, malformed or oversized answer, an untrusted certificate) is "failed" (502).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal, Protocol

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError
from yarl import URL

# Keep pooled connections for less time than the server does (uvicorn, which vLLM runs on, closes
# idle keep-alive connections after 5 s): reusing one the server is closing can fail the request.
POOL_IDLE_S = 4.0
# Enough connections for the highest concurrency we serve, so no request pays a TCP handshake.
POOL_SIZE = 512
# The most one answer (a JSON body, or all the lines of a stream) may make the gateway hold. A code
# completion is a few KiB; n=16 choices with 20 log-probabilities per token stay far below this.
MAX_ANSWER_BYTES = 16 << 20
# aiohttp's read buffer per connection: reading pauses above twice this, and an SSE line longer
# than twice this is an error (vLLM's chunks, log-probabilities included, are a few KiB).
READ_BUFSIZE = 64 << 10

FailureKind = Literal["timeout", "unreachable", "failed"]


class UpstreamFailure(Exception):
    """timeout: no answer before the deadline; unreachable: no connection; failed: anything else."""

    def __init__(self, kind: FailureKind, cause: BaseException) -> None:
        super().__init__(kind)
        self.kind = kind
        self.cause_name = type(cause).__name__


class AnswerTooLarge(ValueError):
    """The upstream's answer is larger than MAX_ANSWER_BYTES."""


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


# What aiohttp raises for a failed exchange: its own errors, a malformed answer (the HTTP parser's
# errors, which are not ClientErrors), deadlines, and our own size bound.
_ERRORS = (aiohttp.ClientError, HttpProcessingError, TimeoutError, AnswerTooLarge)


def _failure(exc: BaseException, *, answered: bool) -> UpstreamFailure:
    """The one mapping from what went wrong to a failure kind; `answered`: the answer's head had arrived."""
    if isinstance(exc, UpstreamFailure):
        return exc
    if isinstance(exc, aiohttp.ClientSSLError):  # a server we reached but do not trust: not a 503
        return UpstreamFailure("failed", exc)
    # Before TimeoutError: a connect timeout is also one, and "unreachable" (503) is the truth there.
    if isinstance(exc, (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError)):
        return UpstreamFailure("unreachable", exc)
    if isinstance(exc, TimeoutError):
        return UpstreamFailure("timeout", exc)
    if not answered and isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        return UpstreamFailure("unreachable", exc)  # hung up or reset before the status line
    return UpstreamFailure("failed", exc)


async def _read_body(resp: aiohttp.ClientResponse) -> bytes:
    """The whole body, refused past MAX_ANSWER_BYTES (checked up front when the length is declared)."""
    declared = resp.content_length
    if declared is not None:
        if declared > MAX_ANSWER_BYTES:
            raise AnswerTooLarge(f"the answer declares {declared} bytes")
        return await resp.content.read()  # the parser stops at the declared length
    parts, size = [], 0
    while chunk := await resp.content.readany():  # chunked or close-delimited
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise AnswerTooLarge(f"the answer passed {MAX_ANSWER_BYTES} bytes")
        parts.append(chunk)
    return b"".join(parts)


class _Stream:
    """A streamed answer: `status`, then its bytes whole (`read`) or line by line (`lines`)."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status

    async def read(self) -> bytes:
        try:
            return await _read_body(self._resp)
        except _ERRORS as exc:
            raise _failure(exc, answered=True) from exc

    async def lines(self) -> AsyncIterator[bytes]:
        content, size = self._resp.content, 0
        while True:
            try:
                line = await content.readline()  # at most 2 x READ_BUFSIZE, else an HTTP parser error
            except _ERRORS as exc:
                raise _failure(exc, answered=True) from exc
            if not line:
                return
            size += len(line)
            if size > MAX_ANSWER_BYTES:
                raise UpstreamFailure("failed", AnswerTooLarge(f"the stream passed {MAX_ANSWER_BYTES} bytes"))
            yield line


class AiohttpBackend:
    """One pooled aiohttp session; create it inside the running event loop (the app's lifespan)."""

    def __init__(self, *, connect_timeout_s: float, headers: dict[str, str] | None = None) -> None:
        headers = dict(headers or {})
        if any(c in item for pair in headers.items() for item in pair for c in "\r\n"):
            raise ValueError("upstream header names and values must not contain line breaks")
        headers["Accept-Encoding"] = "identity"  # no compression: nothing to inflate, no inflation bombs
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=POOL_SIZE, keepalive_timeout=POOL_IDLE_S),
            cookie_jar=aiohttp.DummyCookieJar(),  # an API hop: never keep cookies between users
            headers=headers,
            auto_decompress=False,
            read_bufsize=READ_BUFSIZE,
            trust_env=False,  # the upstream is named by the operator, never by proxy variables
        )
        self._connect = aiohttp.ClientTimeout(sock_connect=connect_timeout_s)
        self._stream_timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._urls: dict[str, URL] = {}  # parsed once per URL: the gateway calls a handful of them

    def _url(self, url: str) -> URL:
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._urls[url] = URL(url)
        return parsed

    async def _call(self, method: str, url: str, body: bytes | None, timeout_s: float) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else None
        resp: aiohttp.ClientResponse | None = None
        try:
            async with asyncio.timeout(timeout_s):  # one deadline for the call, the retry included
                for attempt in (1, 2):
                    try:
                        resp = await self._session.request(
                            method, self._url(url), data=body, headers=headers, timeout=self._connect,
                            allow_redirects=False,
                        )  # fmt: skip
                        break
                    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                        # A pooled connection the server closed as we sent (its keep-alive ran out):
                        # try once more, on a new connection. Connect errors are not retried.
                        if attempt == 2 or isinstance(exc, aiohttp.ClientConnectorError):
                            raise
                assert resp is not None
                data = await _read_body(resp)
        except _ERRORS as exc:
            if resp is not None:
                resp.close()
            raise _failure(exc, answered=resp is not None) from exc
        except BaseException:  # cancelled (the client went away): drop the connection mid-answer
            if resp is not None:
                resp.close()
            raise
        resp.release()
        return resp.status, data

    async def post(self, url: str, body: bytes, *, timeout_s: float) -> tuple[int, bytes]:
        return await self._call("POST", url, body, timeout_s)

    async def get(self, url: str, *, timeout_s: float) -> tuple[int, bytes]:
        return await self._call("GET", url, None, timeout_s)

    @asynccontextmanager
    async def stream(self, url: str, body: bytes, *, timeout_s: float) -> AsyncIterator[_Stream]:
        # No total deadline for a stream: the wait for the head and for each read is bounded instead.
        timeout = self._stream_timeouts.get(timeout_s)
        if timeout is None:
            timeout = self._stream_timeouts[timeout_s] = aiohttp.ClientTimeout(
                sock_connect=self._connect.sock_connect, sock_read=timeout_s
            )
        try:
            resp = await self._session.post(
                self._url(url), data=body, headers={"Content-Type": "application/json"}, timeout=timeout,
                allow_redirects=False,
            )  # fmt: skip
        except _ERRORS as exc:
            raise _failure(exc, answered=False) from exc
        try:
            yield _Stream(resp)
        finally:
            # Leaving early (a gateway-side stop, the client gone) closes the connection, which is how
            # vLLM learns to abort the generation; a fully read answer goes back to the pool.
            if resp.content.at_eof():
                resp.release()
            else:
                resp.close()

    async def aclose(self) -> None:
        await self._session.close()
