"""Recently answered completions, in memory: what events need to know about their completion.

Events often arrive before the completion record has left the telemetry journal for the database,
and persistence from `current_text` needs the completion text, which is never stored. Both are
answered from here for the persistence window (the longest checkpoint is 600 s).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, NamedTuple

# Longest persistence checkpoint (600 s) plus slack for slow plugins.
RECENT_TTL_S = 900.0
RECENT_MAX = 200_000


class CompletionRef(NamedTuple):
    """What an event needs to know about its completion.

    A NamedTuple, not a dataclass: a tuple holding only strings (the usual case: no provenance
    attributions) is untracked by the cyclic garbage collector, so up to RECENT_MAX of these add
    nothing to the full collections that otherwise stall every request in flight for ~100 ms.
    """

    unit_id: str
    experiment: str | None
    arm: str | None
    choice_texts: tuple[str, ...] | None  # memory only; None when known only from the database
    attributions: tuple[dict[str, Any], ...] = ()  # provenance matches (reference metadata only)


class RecentCompletions:
    """Bounded, TTL'd map completion_id -> CompletionRef (LRU eviction beyond RECENT_MAX)."""

    def __init__(self, ttl_s: float = RECENT_TTL_S, max_items: int = RECENT_MAX) -> None:
        self._ttl = ttl_s
        self._max = max_items
        self._items: OrderedDict[str, tuple[float, CompletionRef]] = OrderedDict()

    def put(self, completion_id: str, ref: CompletionRef) -> None:
        self._items[completion_id] = (time.monotonic(), ref)
        self._items.move_to_end(completion_id)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def get(self, completion_id: str) -> CompletionRef | None:
        item = self._items.get(completion_id)
        if item is None:
            return None
        if time.monotonic() - item[0] > self._ttl:
            del self._items[completion_id]
            return None
        return item[1]
