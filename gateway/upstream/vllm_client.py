"""VllmClient: vLLM's OpenAI-compatible API (error mapping, JSON and SSE parsing) over UpstreamHttp.

Every failure becomes an `ErrorResponse` value with a stable code; nothing here raises to callers
except cancellation (a client that went away cancels the upstream request with it).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from gateway.protocol import codec
from gateway.protocol.base import ErrorResponse
from gateway.upstream.http import UpstreamFailure, UpstreamHttp

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UpstreamCompletion:
    body: dict[str, Any]
    latency_ms: float


def _error_from_failure(exc: UpstreamFailure) -> ErrorResponse:
    if exc.kind == "timeout":
        return ErrorResponse(504, "upstream_timeout", "the model server did not answer before the deadline")
    if exc.kind == "unreachable":
        return ErrorResponse(503, "upstream_unavailable", "the model server is unreachable")
    return ErrorResponse(502, "upstream_error", f"upstream request failed: {exc.cause_name}")


def _error_from_status(status: int, raw: bytes) -> ErrorResponse:
    # vLLM's 400s (prompt longer than max-model-len, bad sampling values) are the client's fault;
    # its message names the limit and never contains the prompt.
    if 400 <= status < 500:
        text = raw.decode(errors="replace")
        try:
            message = json.loads(text).get("error", {}).get("message") or text
        except (ValueError, AttributeError):
            message = text
        return ErrorResponse(400, "upstream_rejected", f"the model server rejected the request: {message[:300]}")
    return ErrorResponse(502, "upstream_error", f"the model server answered HTTP {status}")


def _encode(payload: dict[str, Any]) -> bytes:
    return codec.dumps(payload)


class VllmClient:
    def __init__(self, http: UpstreamHttp, base_url: str, *, timeout_s: float) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._timeout_s = timeout_s

    async def complete(self, payload: dict[str, Any]) -> UpstreamCompletion | ErrorResponse:
        started = time.perf_counter()
        try:
            status, raw = await self._http.post(
                f"{self._base}/v1/completions", _encode(payload), timeout_s=self._timeout_s
            )
        except UpstreamFailure as exc:
            return _error_from_failure(exc)
        if status != 200:
            return _error_from_status(status, raw)
        try:
            body = codec.loads(raw)
            if not isinstance(body.get("choices"), list):
                raise ValueError("no choices")
        except (ValueError, AttributeError):
            return ErrorResponse(502, "upstream_bad_response", "the model server sent an unparseable answer")
        return UpstreamCompletion(body, (time.perf_counter() - started) * 1000.0)

    async def stream(self, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any] | ErrorResponse]:
        """Yield parsed SSE chunks; an ErrorResponse (at most one) ends the stream early."""
        body = _encode({**payload, "stream": True})
        try:
            async with self._http.stream(f"{self._base}/v1/completions", body, timeout_s=self._timeout_s) as resp:
                if resp.status != 200:
                    yield _error_from_status(resp.status, await resp.read())
                    return
                async for line in resp.lines():
                    if not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        return
                    try:
                        chunk = json.loads(data)
                    except ValueError:
                        yield ErrorResponse(502, "upstream_bad_response", "the model server sent an unparseable chunk")
                        return
                    yield chunk
        except UpstreamFailure as exc:
            yield _error_from_failure(exc)

    async def model_cards(self) -> list[dict[str, Any]] | ErrorResponse:
        """The upstream's /v1/models entries as it sends them (vLLM adds `max_model_len`, `root`, ...)."""
        try:
            status, raw = await self._http.get(f"{self._base}/v1/models", timeout_s=5.0)
        except UpstreamFailure as exc:
            return _error_from_failure(exc)
        if status != 200:
            return ErrorResponse(502, "upstream_error", f"the model server answered HTTP {status}")
        try:
            cards = json.loads(raw)["data"]
            if not all(isinstance(m, dict) and isinstance(m["id"], str) for m in cards):
                raise TypeError
            return list(cards)
        except (ValueError, KeyError, TypeError):
            return ErrorResponse(502, "upstream_bad_response", "the model server sent an unparseable model list")

    async def models(self) -> list[str] | ErrorResponse:
        cards = await self.model_cards()
        return cards if isinstance(cards, ErrorResponse) else [m["id"] for m in cards]

    async def is_healthy(self) -> bool:
        try:
            status, _ = await self._http.get(f"{self._base}/health", timeout_s=2.0)
        except UpstreamFailure:
            return False
        return status == 200
