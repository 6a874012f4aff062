"""FastAPI dependencies: the authenticated, rate-limited caller.

Dependencies here are `async def` on purpose: FastAPI runs a plain `def` dependency in a thread
pool, and that hand-off (a thread wake-up and a GIL round trip per call) was ~30% of the gateway's
CPU per completion request. Routes read settings and services from `request.app.state` directly.

Order matters for memory (issue 13): an address over its failed-authentication budget is refused
first, then the key is checked, and only an authenticated caller's machine id is hashed and cached.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Request

from gateway.auth import pseudonymize
from gateway.protocol.base import ErrorResponse
from gateway.ratelimit import FailedAuthLimiter
from gateway.service.contracts import Caller

# Distinct users and machines seen by one process between cache resets; an HMAC per request was a
# few percent of the CPU of an event post. Values longer than _PSEUDONYM_CACHED_CHARS are hashed
# every time, never cached, so the cache holds at most ~50,000 x 160 characters (~12 MB).
_PSEUDONYM_CACHE_MAX = 50_000
_PSEUDONYM_CACHED_CHARS = 160
# A machine id is a client-chosen label (a UUID, a host name); longer ones are refused.
MAX_MACHINE_ID_CHARS = 256


# The editor/plugin, for the A/B report's segments: `X-Client`, else the User-Agent's first product
# token (e.g. "continue/0.9.1"), cut to the column's 64 characters of a plain charset.
_CLIENT_TOKEN = re.compile(r"[A-Za-z0-9._/+-]{1,64}")


def client_label(headers: object) -> str | None:
    """The client's name/version from its headers, or None; never longer than 64 characters."""
    raw = headers.get("x-client") or headers.get("user-agent")  # type: ignore[attr-defined]
    m = _CLIENT_TOKEN.match(raw) if raw else None
    return m.group(0) if m else None


class ApiError(Exception):
    """Raised by dependencies only; the app's handler turns it into the ErrorResponse JSON."""

    def __init__(self, err: ErrorResponse) -> None:
        self.err = err


def _pseudonym(state: object, value: str) -> str:
    cache: dict[str, str] | None = getattr(state, "pseudonym_cache", None)
    if cache is None:
        cache = {}
        state.pseudonym_cache = cache  # type: ignore[attr-defined]
    if len(value) > _PSEUDONYM_CACHED_CHARS:
        return pseudonymize(state.pseudonym_key, value)  # type: ignore[attr-defined]
    unit = cache.get(value)
    if unit is None:
        if len(cache) >= _PSEUDONYM_CACHE_MAX:
            cache.clear()
        unit = cache[value] = pseudonymize(state.pseudonym_key, value)  # type: ignore[attr-defined]
    return unit


def _failed_auth(state: object) -> FailedAuthLimiter:
    limiter: FailedAuthLimiter | None = getattr(state, "failed_auth", None)
    if limiter is None:
        limiter = state.failed_auth = FailedAuthLimiter()  # type: ignore[attr-defined]
    return limiter


async def _authenticate(request: Request) -> tuple[int | None, str, bool]:
    """(key id, user, is_admin) of the caller, or ApiError (401, or 429 past the failure budget)."""
    state = request.app.state
    if not state.settings.require_auth:
        return None, "anonymous", False
    failures = _failed_auth(state)
    address = request.client.host if request.client else "unknown"
    wait_s = failures.retry_after(address)
    if wait_s is not None:
        raise ApiError(
            ErrorResponse(
                429,
                "too_many_auth_failures",
                "too many failed authentications from this address; retry later",
                headers={"Retry-After": str(wait_s)},
            )
        )
    info = await state.authenticator.authenticate(request.headers.get("authorization"))
    if isinstance(info, ErrorResponse):
        if info.status == 401:
            failures.record_failure(address)
        raise ApiError(info)
    return info.key_id, info.user, info.is_admin


async def get_caller(request: Request) -> Caller:
    state = request.app.state
    key_id, user, is_admin = await _authenticate(request)
    machine = request.headers.get("x-machine-id")
    if machine and len(machine) > MAX_MACHINE_ID_CHARS:
        raise ApiError(
            ErrorResponse(
                400,
                "invalid_machine_id",
                f"X-Machine-Id is limited to {MAX_MACHINE_ID_CHARS} characters",
                param="X-Machine-Id",
            )
        )
    machine_id = _pseudonym(state, "machine:" + machine) if machine else None
    caller = Caller(
        key_id, user, _pseudonym(state, user), is_admin, machine_id=machine_id, client=client_label(request.headers)
    )
    decision = await state.rate_limiter.check(str(caller.key_id) if caller.key_id is not None else caller.user)
    if not decision.allowed:
        state.metrics.rate_limited.inc()
        raise ApiError(
            ErrorResponse(
                429,
                "rate_limited",
                "too many requests for this API key; retry later",
                headers={"Retry-After": str(decision.retry_after_s)},
            )
        )
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]
