"""The API-key snapshot: what a gateway restarted during a database outage still accepts."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from gateway.auth import ApiKeyAuthenticator, KeySnapshot
from gateway.protocol.base import ErrorResponse
from gateway.telemetry.repository import ApiKeyInfo


async def _database_down(_key: str) -> ApiKeyInfo | None:
    raise ConnectionError("database unreachable")


def test_snapshot_round_trip_and_outage_fallback(tmp_path: Path) -> None:
    path = tmp_path / "snap.json"
    h = hashlib.sha256(b"cs_known").hexdigest()
    KeySnapshot(path).replace({h: ApiKeyInfo(7, "dora", True)})
    assert "cs_known" not in path.read_text() and path.stat().st_mode & 0o777 == 0o600
    snap = KeySnapshot(path)
    snap.load()
    auth = ApiKeyAuthenticator(_database_down, snap)
    assert asyncio.run(auth.authenticate("Bearer cs_known")) == ApiKeyInfo(7, "dora", True)
    unknown = asyncio.run(auth.authenticate("Bearer cs_other"))
    assert isinstance(unknown, ErrorResponse) and unknown.status == 503


def test_a_damaged_snapshot_is_ignored_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "snap.json"
    for body in ("{not json", '{"keys": {"h": [1]}}', '["keys"]'):
        path.write_text(body)
        snap = KeySnapshot(path)
        snap.load()
        assert snap.get("h") is None
