"""Streamed completions: upstream chunks -> the text each choice may release now.

Owns the hold-back rule. With filters active (or prompt placeholders to restore, which may span
chunks) a choice is held back until it finishes, then finished once (filtered, restored) and
released as one chunk: a provenance block must be decided on the whole completion, and text already
sent cannot be taken back. Without either, each delta goes out as it arrives. Gateway-side stops are
matched across chunk boundaries (StopMatcher), and a choice's own text is kept to place its logprobs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gateway.service.logprobs import LogprobTrack
from gateway.service.stops import StopMatcher


@dataclass(slots=True)
class Choice:
    index: int
    text: str = ""
    finish_reason: str | None = None
    filters: list[dict[str, Any]] = field(default_factory=list)
    raw: str = ""  # the model's text as it arrived, before any gateway change (for logprobs)
    logprobs: LogprobTrack | None = None  # only when the client asked for logprobs (or best_of)


# Filters and restores one finished choice in place (CompletionService: output filters, then placeholders).
Finish = Callable[[Choice], None]
Release = tuple[Choice, str]  # a choice and the text of it to send now


class ChoiceStreams:
    """The n choices of one streamed completion, fed upstream chunk choices one at a time."""

    def __init__(self, n: int, stops: list[str], *, finish: Finish | None, want_logprobs: bool) -> None:
        self.choices: dict[int, Choice] = {i: Choice(i) for i in range(n)}
        self._n = n
        self._stops = stops
        self._matchers: dict[int, StopMatcher] = {}
        self._finish = finish  # None: nothing is held back
        self._want_logprobs = want_logprobs

    def feed(self, c: dict[str, Any]) -> Release | None:
        """One choice entry of an upstream chunk; returns what to send for it now, if anything."""
        index = int(c.get("index", 0))
        choice = self.choices.setdefault(index, Choice(index))
        matcher = self._matchers.setdefault(index, StopMatcher(self._stops))
        if matcher.stopped:
            return None  # already finished here; the upstream ran on to its own stop
        text = c.get("text") or ""
        if self._want_logprobs:  # the model's own text is kept only to place its logprobs
            choice.logprobs = choice.logprobs or LogprobTrack()
            choice.logprobs.add(c.get("logprobs"))
            choice.raw += text
        delta = matcher.feed(text)
        if matcher.stopped:
            choice.finish_reason = "stop"
        elif c.get("finish_reason"):
            delta += matcher.flush()
            choice.finish_reason = c["finish_reason"]
        return self._release(choice, delta, ended=False)

    def all_stopped(self) -> bool:
        """Every choice hit a gateway-side stop: the caller may leave the stream (aborting the upstream)."""
        return len(self._matchers) == self._n and all(m.stopped for m in self._matchers.values())

    def drain(self) -> Iterator[Release]:
        """The rest of each choice the upstream ended without a finish_reason (finished like a cut-off one)."""
        for index, matcher in self._matchers.items():
            choice = self.choices[index]
            if choice.finish_reason is None and (out := self._release(choice, matcher.flush(), ended=True)):
                yield out

    def ordered(self) -> list[Choice]:
        return [self.choices[i] for i in sorted(self.choices)]

    def _release(self, choice: Choice, delta: str, *, ended: bool) -> Release | None:
        choice.text += delta
        if self._finish is not None:  # held back: nothing goes out before the choice is finished
            if choice.finish_reason is None and not ended:
                return None
            self._finish(choice)
            delta = choice.text
        return (choice, delta) if delta or choice.finish_reason else None
