"""API-key authentication (cached lookups) and pseudonymous unit ids (keyed hash of the user)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from gateway.protocol.base import ErrorResponse
from gateway.telemetry.repository import ApiKeyInfo

_CACHE_TTL_S = 30.0  # a revoked key stops working within this long on every replica
_CACHE_MAX = 10_000


def load_or_create_pseudonym_key(explicit: str | None, data_dir: Path) -> bytes:
    """The HMAC key behind unit ids: the configured one, else one generated once and kept (0600)."""
    if explicit:
        return explicit.encode()
    path = data_dir / "pseudonym.key"
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def pseudonymize(key: bytes, value: str) -> str:
    """Keyed hash of a user or machine id: stable per deployment, not reversible without the key."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


class ApiKeyAuthenticator:
    """Resolves `Authorization: Bearer <key>` to an ApiKeyInfo, caching DB lookups briefly."""

    def __init__(self, lookup: Callable[[str], Awaitable[ApiKeyInfo | None]]) -> None:
        self._lookup = lookup
        self._cache: dict[str, tuple[float, ApiKeyInfo | None]] = {}

    async def authenticate(self, authorization: str | None) -> ApiKeyInfo | ErrorResponse:
        if not authorization:
            return ErrorResponse(
                401, "missing_api_key", "send `Authorization: Bearer <api key>`", headers={"WWW-Authenticate": "Bearer"}
            )
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return ErrorResponse(
                401,
                "invalid_authorization",
                "the Authorization header must be `Bearer <api key>`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < _CACHE_TTL_S:
            info = cached[1]
        else:
            try:
                info = await self._lookup(key)
            except Exception:  # noqa: BLE001 - database down: a key seen before keeps working
                if cached is None:
                    return ErrorResponse(
                        503,
                        "auth_unavailable",
                        "the key store is unreachable; retry shortly",
                        headers={"Retry-After": "5"},
                    )
                return (
                    cached[1]
                    if cached[1] is not None
                    else ErrorResponse(
                        401,
                        "invalid_api_key",
                        "the API key is unknown or revoked",
                        headers={"WWW-Authenticate": "Bearer"},
                    )
                )
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[key] = (now, info)
        if info is None:
            return ErrorResponse(
                401, "invalid_api_key", "the API key is unknown or revoked", headers={"WWW-Authenticate": "Bearer"}
            )
        return info
