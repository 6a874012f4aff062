"""VllmClient: HTTP to vLLM's OpenAI-compatible server (timeouts, error mapping, SSE parsing).

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

import httpx

from gateway.protocol.base import ErrorResponse

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UpstreamCompletion:
    body: dict[str, Any]
    latency_ms: float


def _error_from_exception(exc: Exception) -> ErrorResponse:
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return ErrorResponse(504, "upstream_timeout", "the model server did not answer before the deadline")
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)):
        return ErrorResponse(503, "upstream_unavailable", "the model server is unreachable")
    return ErrorResponse(502, "upstream_error", f"upstream request failed: {type(exc).__name__}")


def _error_from_status(status: int, text: str) -> ErrorResponse:
    # vLLM's 400s (prompt longer than max-model-len, bad sampling values) are the client's fault;
    # its message names the limit and never contains the prompt.
    if 400 <= status < 500:
        try:
            message = json.loads(text).get("error", {}).get("message") or text
        except (ValueError, AttributeError):
            message = text
        return ErrorResponse(400, "upstream_rejected", f"the model server rejected the request: {message[:300]}")
    return ErrorResponse(502, "upstream_error", f"the model server answered HTTP {status}")


class VllmClient:
    def __init__(self, client: httpx.AsyncClient, base_url: str, *, timeout_s: float) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._timeout_s = timeout_s

    async def complete(self, payload: dict[str, Any]) -> UpstreamCompletion | ErrorResponse:
        started = time.perf_counter()
        try:
            resp = await self._client.post(f"{self._base}/v1/completions", json=payload, timeout=self._timeout_s)
        except httpx.HTTPError as exc:
            return _error_from_exception(exc)
        if resp.status_code != 200:
            return _error_from_status(resp.status_code, resp.text)
        try:
            body = resp.json()
            if not isinstance(body.get("choices"), list):
                raise ValueError("no choices")
        except (ValueError, AttributeError):
            return ErrorResponse(502, "upstream_bad_response", "the model server sent an unparseable answer")
        return UpstreamCompletion(body, (time.perf_counter() - started) * 1000.0)

    async def stream(self, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any] | ErrorResponse]:
        """Yield parsed SSE chunks; an ErrorResponse (at most one) ends the stream early."""
        try:
            async with self._client.stream(
                "POST", f"{self._base}/v1/completions", json={**payload, "stream": True}, timeout=self._timeout_s
            ) as resp:
                if resp.status_code != 200:
                    yield _error_from_status(resp.status_code, (await resp.aread()).decode(errors="replace"))
                    return
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    try:
                        chunk = json.loads(data)
                    except ValueError:
                        yield ErrorResponse(502, "upstream_bad_response", "the model server sent an unparseable chunk")
                        return
                    yield chunk
        except httpx.HTTPError as exc:
            yield _error_from_exception(exc)

    async def models(self) -> list[str] | ErrorResponse:
        try:
            resp = await self._client.get(f"{self._base}/v1/models", timeout=5.0)
            resp.raise_for_status()
            return [m["id"] for m in resp.json()["data"]]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            return (
                _error_from_exception(exc)
                if isinstance(exc, httpx.HTTPError)
                else ErrorResponse(502, "upstream_bad_response", "the model server sent an unparseable model list")
            )

    async def is_healthy(self) -> bool:
        try:
            resp = await self._client.get(f"{self._base}/health", timeout=2.0)
            return resp.status_code == 200
        except httpx.HTTPError:
            return False
