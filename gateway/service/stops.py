"""Stop sequences applied by the gateway, for lists longer than the upstream accepts.

vLLM's OpenAI server takes at most 4 stop strings; language stops plus a client's own can be more.
The first 4 go upstream (so generation ends early); all of them are applied here, on whole texts
and on streams (holding back just enough characters to see a stop string that spans two chunks).
Like OpenAI's, the returned text excludes the stop string.
"""

from __future__ import annotations

UPSTREAM_MAX_STOPS = 4


def truncate_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """Cut `text` before the earliest stop string; returns (text, whether a stop was found)."""
    cut = min((i for s in stops if (i := text.find(s)) != -1), default=-1)
    return (text[:cut], True) if cut != -1 else (text, False)


class StopMatcher:
    """Streaming form of truncate_at_stop: feed deltas, get the text that is safe to emit."""

    def __init__(self, stops: list[str]) -> None:
        self._stops = stops
        self._hold = max((len(s) for s in stops), default=1) - 1
        self._buffer = ""
        self.stopped = False

    def feed(self, delta: str) -> str:
        if self.stopped:
            return ""
        self._buffer += delta
        text, found = truncate_at_stop(self._buffer, self._stops)
        if found:
            self.stopped = True
            self._buffer = ""
            return text
        safe = len(self._buffer) - self._hold
        if safe <= 0:
            return ""
        out, self._buffer = self._buffer[:safe], self._buffer[safe:]
        return out

    def flush(self) -> str:
        out, self._buffer = ("" if self.stopped else self._buffer), ""
        return out
