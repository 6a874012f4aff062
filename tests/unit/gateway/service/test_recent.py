"""gateway.service.recent: the in-memory table of recently answered completions (TTL, LRU bound)."""

from __future__ import annotations

import pytest

from gateway.service import recent as recent_module
from gateway.service.recent import CompletionRef, RecentCompletions


def _ref(unit: str = "u1") -> CompletionRef:
    return CompletionRef(unit, "exp", "a", ("text",))


def test_a_completion_is_found_until_its_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(recent_module.time, "monotonic", lambda: clock[0])
    table = RecentCompletions(ttl_s=900.0)
    table.put("c1", _ref())
    clock[0] += 900.0
    assert table.get("c1") == _ref()
    clock[0] += 0.001
    assert table.get("c1") is None
    assert table.get("c1") is None  # expired entries are dropped, not kept
    assert table.get("never") is None


def test_beyond_the_bound_the_least_recently_put_goes() -> None:
    table = RecentCompletions(max_items=2)
    table.put("c1", _ref("u1"))
    table.put("c2", _ref("u2"))
    table.put("c1", _ref("u1b"))  # put again: now the most recent
    table.put("c3", _ref("u3"))
    assert table.get("c2") is None
    assert table.get("c1") == _ref("u1b") and table.get("c3") == _ref("u3")
