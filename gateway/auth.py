"""API-key authentication (cached lookups) and pseudonymous unit ids (keyed hash of the user).

The lookup cache is keyed by a digest of the key, never the key text: a unique 1 MiB bearer token
per request grew the process by 150 MB per 150 requests when keys were cached as sent (issue 13).
Unknown keys have their own small cache, so a flood of them cannot evict the keys in use; keys
longer than any key we issue are refused without a lookup.

KeySnapshot keeps the active keys' hashes (what the database stores, never a key) in a 0600 file in
the data directory, refreshed while the database is reachable, so a gateway restarted during a
database outage still accepts the keys it knew (issue 13: otherwise a restart during an outage takes
completions down although the journal exists to carry their telemetry).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from gateway.protocol.base import ErrorResponse
from gateway.telemetry.repository import ApiKeyInfo

log = logging.getLogger(__name__)

_CACHE_TTL_S = 30.0  # a revoked key stops working within this long on every replica
_CACHE_MAX = 10_000  # known keys: 10,000 x (32-byte digest + ApiKeyInfo) is ~3 MB at most
_UNKNOWN_CACHE_MAX = 4_096  # unknown keys: digests only, ~0.5 MB
# Issued keys are KEY_PREFIX + 32 base64url characters; anything far longer is not one of ours.
MAX_API_KEY_CHARS = 256


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


class KeySnapshot:
    """The active keys by SHA-256 (hex) of the key, kept on disk (0600) for start-up during a DB outage.

    A key revoked while the database is unreachable, or since the last refresh, stays accepted by a
    process that falls back on the snapshot until the database returns: the refresh interval bounds
    the second case.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys: dict[str, ApiKeyInfo] = {}

    def load(self) -> None:
        try:
            raw = json.loads(self.path.read_text())
            self._keys = {h: ApiKeyInfo(int(i), str(u), bool(a)) for h, (i, u, a) in raw["keys"].items()}
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("api key snapshot %s unreadable (%s); ignored", self.path, type(exc).__name__)

    def get(self, key_hash: str) -> ApiKeyInfo | None:
        return self._keys.get(key_hash)

    def replace(self, keys: dict[str, ApiKeyInfo]) -> None:
        """Take the database's current set; rewrite the file (atomically) only when it changed."""
        if keys == self._keys and self.path.exists():
            return
        self._keys = dict(keys)
        body = json.dumps({"keys": {h: [k.key_id, k.user, k.is_admin] for h, k in keys.items()}})
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


class ApiKeyAuthenticator:
    """Resolves `Authorization: Bearer <key>` to an ApiKeyInfo, caching DB lookups briefly."""

    def __init__(
        self, lookup: Callable[[str], Awaitable[ApiKeyInfo | None]], snapshot: KeySnapshot | None = None
    ) -> None:
        self._lookup = lookup
        self._snapshot = snapshot
        self._cache: dict[bytes, tuple[float, ApiKeyInfo]] = {}
        self._unknown: dict[bytes, float] = {}

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
        if len(key) > MAX_API_KEY_CHARS:
            return _invalid_key()
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
        now = time.monotonic()
        cached = self._cached(digest, now)
        if cached is None:
            return _invalid_key()
        if isinstance(cached, ApiKeyInfo):
            return cached
        try:
            info = await self._lookup(key)
        except Exception:  # noqa: BLE001 - database down: a key seen before keeps working
            stale = self._cache.get(digest)
            if stale is not None:
                return stale[1]
            known = self._snapshot.get(digest.hex()) if self._snapshot is not None else None
            if known is not None:
                return known
            if digest in self._unknown:
                return _invalid_key()
            return ErrorResponse(
                503, "auth_unavailable", "the key store is unreachable; retry shortly", headers={"Retry-After": "5"}
            )
        self._remember(digest, now, info)
        return _invalid_key() if info is None else info

    def _cached(self, digest: bytes, now: float) -> ApiKeyInfo | None | object:
        """The fresh cached answer (None = unknown key), or _MISS."""
        hit = self._cache.get(digest)
        if hit is not None and now - hit[0] < _CACHE_TTL_S:
            return hit[1]
        seen = self._unknown.get(digest)
        if seen is not None and now - seen < _CACHE_TTL_S:
            return None
        return _MISS

    def _remember(self, digest: bytes, now: float, info: ApiKeyInfo | None) -> None:
        if info is None:
            if len(self._unknown) >= _UNKNOWN_CACHE_MAX:
                self._unknown.clear()
            self._unknown[digest] = now
            self._cache.pop(digest, None)
            return
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (now, info)
        self._unknown.pop(digest, None)


_MISS = object()


def _invalid_key() -> ErrorResponse:
    return ErrorResponse(
        401, "invalid_api_key", "the API key is unknown or revoked", headers={"WWW-Authenticate": "Bearer"}
    )
