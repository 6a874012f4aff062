"""Log-probabilities passed through from vLLM, for exactly the text the client receives.

The gateway may change a choice's text after the model wrote it: it cuts at a stop string the
upstream did not know, a filter redacts a secret or blocks the choice, a placeholder is turned back
into the user's secret. The rule is one for all of them: the logprobs cover the upstream's tokens
that lie wholly inside the longest unchanged beginning of the text; from the first token that
overlaps a cut or a change onwards, entries are dropped (a blocked choice keeps none). The kept
entries are the upstream's own, so `tokens` joined is always a prefix of the returned text.
Prompt tokens (vLLM's `echo` logprobs) are never returned: the gateway's echo is the client's
prompt, not the FIM-rendered text the model saw.
"""

from __future__ import annotations

from typing import Any

_KEYS = ("tokens", "token_logprobs", "top_logprobs", "text_offset")


def unchanged_chars(raw: str, final: str) -> int:
    """Length of the common beginning of the model's text and the text the client gets."""
    n = min(len(raw), len(final))
    if raw[:n] == final[:n]:
        return n
    lo, hi = 0, n  # binary search on prefix equality: C-speed slice compares, O(n log n) at worst
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if raw[:mid] == final[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class LogprobTrack:
    """One choice's upstream logprobs, accumulated over chunks and released as its text is released."""

    __slots__ = ("_lists", "_ends", "_sent")

    def __init__(self) -> None:
        self._lists: dict[str, list[Any]] = {k: [] for k in _KEYS}
        self._ends: list[int] = []  # end offset of each token in the upstream text
        self._sent = 0

    def add(self, logprobs: dict[str, Any] | None) -> None:
        if not logprobs:
            return
        tokens = logprobs.get("tokens") or []
        end = self._ends[-1] if self._ends else 0
        for t in tokens:
            end += len(t)
            self._ends.append(end)
        for k in _KEYS:
            values = logprobs.get(k)
            ok = isinstance(values, list) and len(values) == len(tokens)
            self._lists[k] += values if ok else [None] * len(tokens)

    def take(self, keep_chars: int, *, shift: int = 0) -> dict[str, Any]:
        """The not yet released entries of tokens ending within the first `keep_chars` characters.

        `shift` moves `text_offset` (by the length of an echoed prompt before the completion).
        """
        n = self._sent
        while n < len(self._ends) and self._ends[n] <= keep_chars:
            n += 1
        out = {k: v[self._sent : n] for k, v in self._lists.items()}
        if shift:
            out["text_offset"] = [o + shift if isinstance(o, int) else o for o in out["text_offset"]]
        self._sent = n
        return out

    def sum_logprob(self) -> float:
        """Sum of the chosen tokens' log-probabilities (best_of ranking); -inf when none are known."""
        values = [v for v in self._lists["token_logprobs"] if isinstance(v, (int, float))]
        return float(sum(values)) if values else float("-inf")
