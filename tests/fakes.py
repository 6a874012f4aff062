"""Fault-injection fakes that speak real HTTP on loopback (named as fakes; never stand-ins for vLLM)."""

from __future__ import annotations

import socket
import threading
import time


class FakeHangingUpstream:
    """Accepts HTTP connections, reads the request, never answers; records when clients hang up.

    Used to show that the gateway enforces its upstream deadline (504) and that a client that goes
    away makes the gateway drop its upstream request.
    """

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = int(self._sock.getsockname()[1])
        self.accepted = 0
        self.closed_by_peer: list[float] = []
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if data == b"":  # the peer closed the connection
                    self.closed_by_peer.append(time.monotonic())
                    return
                if b"GET /health" in data or b"GET /v1/models" in data:
                    body = b'{"data":[{"id":"hanging"}]}'
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                        + str(len(body)).encode()
                        + b"\r\n\r\n"
                        + body
                    )

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
