"""H1Backend: the gateway's own small HTTP/1.1 client for the upstream hop (asyncio protocol + httptools).

Why not aiohttp: on the 2-core host a POST to a loopback stub, answer parsed, costs ~0.30 ms of CPU
with aiohttp and ~0.12 ms with this client, and the gateway's CPU per request is what its added
latency is made of under load (benchmarks/gateway_overhead.py: ~0.35 ms less CPU per completion).
It does only what an OpenAI-compatible model server needs: GET and JSON POST, Content-Length,
chunked or close-delimited answers, a keep-alive pool, TLS, a connect timeout, and a total deadline
(calls) or a per-read one (streams). No redirects, cookies, proxies or compression.

Each request goes out as one write (head and body together). Failures raise UpstreamFailure with the
same kinds the VllmClient maps: no connection or the server hanging up before an answer is
"unreachable", a missed deadline is "timeout", anything else (a broken answer) is "failed".
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httptools

from gateway.upstream.http import POOL_IDLE_S, POOL_SIZE, UpstreamFailure

# Body bytes buffered before reading from the socket pauses (a reader slower than the upstream).
_HIGH_WATER = 1 << 20

Origin = tuple[str, str, int]  # scheme, host, port


class _Disconnected(ConnectionError):
    """The server closed the connection before the whole answer arrived."""


class _Connection(asyncio.Protocol):
    """One upstream connection and the state of the answer being read from it."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()  # kept: each get_running_loop() is a getpid() syscall
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._paused = False
        self.reset()

    def reset(self) -> None:
        self.status = 0
        self.head_done = False
        self.done = False
        self.keep_alive = False
        self.received_any = False
        self.error: Exception | None = None
        self._body: list[bytes] = []
        self._buffered = 0
        self._framed = False  # Content-Length or chunked; otherwise the body ends when the server closes
        self._waiter: asyncio.Future[None] | None = None

    # --- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = exc
            self.close()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.head_done and not self.done and not self._framed:
            self.done = True  # a close-delimited body is complete now
        elif not self.done and self.error is None:
            self.error = _Disconnected("the upstream closed the connection")
        self._wake()

    # --- httptools callbacks
    def on_header(self, name: bytes, _value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        self.keep_alive = self._parser.should_keep_alive()
        self.done = True

    # --- used by H1Backend
    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _wait(self) -> None:
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def head(self) -> None:
        while not self.head_done:
            if self.error is not None:
                raise self.error
            await self._wait()

    async def chunk(self) -> bytes:
        """The body bytes that arrived since the last call; b"" once the answer is complete."""
        while not self._body:
            if self.error is not None:
                raise self.error
            if self.done:
                return b""
            await self._wait()
        data = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body.clear()
        self._buffered = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    def reusable(self) -> bool:
        return self.done and self.keep_alive and not self.lost and self.error is None and not self._body

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _failure(exc: BaseException, *, answered: bool) -> UpstreamFailure:
    if isinstance(exc, UpstreamFailure):
        return exc
    if isinstance(exc, TimeoutError):
        return UpstreamFailure("timeout", exc)
    if isinstance(exc, OSError) and not answered:  # refused, reset, closed before the status line
        return UpstreamFailure("unreachable", exc)
    return UpstreamFailure("failed", exc)


def _request(head: bytes, body: bytes | None) -> bytes:
    """The whole request: a POST head ends with "Content-Length: " (see H1Backend._target)."""
    return head + b"%d\r\n\r\n" % len(body) + body if body is not None else head + b"\r\n"


class _H1Stream:
    """A streamed answer: `status`, then its bytes whole (`read`) or line by line (`lines`)."""

    def __init__(self, conn: _Connection, read_timeout_s: float) -> None:
        self._conn = conn
        self._timeout_s = read_timeout_s
        self.status = conn.status

    async def _chunk(self) -> bytes:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._conn.chunk()
        except (OSError, TimeoutError, httptools.HttpParserError) as exc:
            raise _failure(exc, answered=True) from exc

    async def read(self) -> bytes:
        parts = []
        while chunk := await self._chunk():
            parts.append(chunk)
        return b"".join(parts)

    async def lines(self) -> AsyncIterator[bytes]:
        buffer = b""
        while chunk := await self._chunk():
            buffer += chunk
            start = 0
            while (end := buffer.find(b"\n", start)) != -1:
                yield buffer[start : end + 1]
                start = end + 1
            buffer = buffer[start:]
        if buffer:
            yield buffer


class H1Backend:
    """Pooled keep-alive connections per origin; create it inside the running event loop (the app's lifespan)."""

    def __init__(self, *, connect_timeout_s: float, headers: dict[str, str] | None = None) -> None:
        headers = headers or {}
        if any(c in item for pair in headers.items() for item in pair for c in "\r\n"):
            raise ValueError("upstream header names and values must not contain line breaks")
        self._extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._connect_s = connect_timeout_s
        self._idle: dict[Origin, list[_Connection]] = {}
        # url -> (origin, request head up to the Content-Length value): built once per URL, not per call
        self._targets: dict[tuple[str, str], tuple[Origin, bytes]] = {}
        self._slots = asyncio.Semaphore(POOL_SIZE)  # at most this many calls in flight, as aiohttp's pool had
        self._tls: ssl.SSLContext | None = None

    # --- request heads and connections
    def _target(self, method: str, url: str) -> tuple[Origin, bytes]:
        cached = self._targets.get((method, url))
        if cached is None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None:
                raise UpstreamFailure("failed", ValueError("upstream URLs are http(s)://host[:port]/path"))
            port = parts.port or (443 if parts.scheme == "https" else 80)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            head = f"{method} {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{self._extra}"
            if method == "POST":
                head += "Content-Type: application/json\r\nContent-Length: "
            cached = self._targets[(method, url)] = ((parts.scheme, parts.hostname, port), head.encode())
        return cached

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            # Not older than the server's keep-alive (it may be closing it right now), not closed, and
            # not spoken to since it was pooled (a 408 or a stray byte means the server is done with it).
            transport = conn.transport
            fresh = now - conn.idle_since < POOL_IDLE_S and not conn.received_any
            if fresh and not conn.lost and transport is not None and not transport.is_closing():
                return conn
            conn.close()
        return None

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        if scheme == "https" and self._tls is None:
            self._tls = ssl.create_default_context()
        try:
            async with asyncio.timeout(self._connect_s):
                _, conn = await asyncio.get_running_loop().create_connection(
                    _Connection, host, port, ssl=self._tls if scheme == "https" else None
                )
        except (OSError, TimeoutError) as exc:  # the connect timeout is a 503 (unreachable), not a 504
            raise UpstreamFailure("unreachable", exc) from exc
        return conn

    async def _exchange(self, origin: Origin, request: bytes) -> _Connection:
        """Send `request` and wait for the answer's head, on a pooled connection or a new one.

        A pooled connection that the server closed before reading the request (its keep-alive ran
        out between our idle check and the write) is retried once on a new connection.
        """
        conn = self._take_idle(origin)
        if conn is not None:
            try:
                return await self._send(conn, request)
            except _Disconnected:
                if conn.received_any:
                    raise
        return await self._send(await self._connect(origin), request)

    @staticmethod
    async def _send(conn: _Connection, request: bytes) -> _Connection:
        conn.transport.write(request)  # type: ignore[union-attr]  # head and body in one write
        try:
            await conn.head()
        except BaseException:
            conn.close()
            raise
        return conn

    def _release(self, origin: Origin, conn: _Connection) -> None:
        # Only a fully read keep-alive answer goes back to the pool; closing anything else is also how
        # vLLM learns to abort a generation nobody will read.
        if conn.reusable():
            idle = self._idle.setdefault(origin, [])
            if len(idle) < POOL_SIZE:
                conn.reset()
                conn.idle_since = time.monotonic()
                idle.append(conn)
                return
        conn.close()

    async def _call(self, method: str, url: str, body: bytes | None, timeout_s: float) -> tuple[int, bytes]:
        origin, head = self._target(method, url)
        request = _request(head, body)
        async with self._slots:
            conn: _Connection | None = None
            try:
                async with asyncio.timeout(timeout_s):
                    conn = await self._exchange(origin, request)
                    parts = []
                    while chunk := await conn.chunk():
                        parts.append(chunk)
            except (OSError, TimeoutError, httptools.HttpParserError) as exc:
                if conn is not None:
                    conn.close()
                raise _failure(exc, answered=conn is not None) from exc
            except BaseException:  # cancelled (the client went away): the connection is mid-answer
                if conn is not None:
                    conn.close()
                raise
            status = conn.status
            self._release(origin, conn)
            return status, parts[0] if len(parts) == 1 else b"".join(parts)

    # --- UpstreamHttp
    async def post(self, url: str, body: bytes, *, timeout_s: float) -> tuple[int, bytes]:
        return await self._call("POST", url, body, timeout_s)

    async def get(self, url: str, *, timeout_s: float) -> tuple[int, bytes]:
        return await self._call("GET", url, None, timeout_s)

    @asynccontextmanager
    async def stream(self, url: str, body: bytes, *, timeout_s: float) -> AsyncIterator[_H1Stream]:
        # No total deadline for a stream: each wait for the head or the next bytes is bounded instead.
        origin, head = self._target("POST", url)
        async with self._slots:
            try:
                async with asyncio.timeout(timeout_s):
                    conn = await self._exchange(origin, _request(head, body))
            except (OSError, TimeoutError, httptools.HttpParserError) as exc:
                raise _failure(exc, answered=False) from exc
            try:
                yield _H1Stream(conn, timeout_s)
            finally:
                self._release(origin, conn)

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
