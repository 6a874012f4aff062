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
    """One choice's upstream logprobs, accumulated over chunks and released as its text is released.

    Tokens are placed in the model's text by matching them in order: vLLM's own `text_offset` counts
    special tokens that its detokenizer leaves out of the text (`<fim_middle>` ...), so it drifts.
    A token that is not in the text (a skipped special token, or a byte of a character split across
    tokens, decoded as U+FFFD) gets zero width; the returned `text_offset` are these positions.
    """

    __slots__ = ("_lists", "_starts", "_ends", "_pos", "_sent")

    def __init__(self) -> None:
        self._lists: dict[str, list[Any]] = {k: [] for k in _KEYS}
        self._starts: list[int] = []  # position of each placed token in the model's text
        self._ends: list[int] = []
        self._pos = 0
        self._sent = 0

    def add(self, logprobs: dict[str, Any] | None) -> None:
        if not logprobs:
            return
        tokens = logprobs.get("tokens") or []
        for k in _KEYS:
            values = logprobs.get(k)
            if isinstance(values, list) and len(values) == len(tokens):
                self._lists[k] += values
            else:
                self._lists[k] += [None] * len(tokens)

    def _place(self, raw: str) -> None:
        tokens = self._lists["tokens"]
        while len(self._ends) < len(tokens):
            t = tokens[len(self._ends)]
            t = t if isinstance(t, str) else ""
            start = self._pos
            if t and raw.startswith(t, start):
                self._pos += len(t)
            elif t and raw[start:] == t[: len(raw) - start]:
                return  # the text so far ends inside this token: place it when more text has arrived
            elif ("\ufffd" in t or t.startswith("bytes:")) and start < len(raw) and not raw[start].isascii():
                self._pos += 1  # one byte of a split character: the character goes to its first byte
            self._starts.append(start)
            self._ends.append(self._pos)

    def take(self, raw: str, keep_chars: int, *, shift: int = 0) -> dict[str, Any]:
        """The entries not yet released of tokens that end within the first `keep_chars` of `raw`.

        Args:
            raw: the model's text so far (the upstream's, before any gateway change).
            keep_chars: how much of it the client receives unchanged (see unchanged_chars).
            shift: added to `text_offset` (the length of an echoed prompt before the completion).
        """
        self._place(raw)
        n = self._sent
        while n < len(self._ends) and self._ends[n] <= keep_chars:
            n += 1
        out = {k: v[self._sent : n] for k, v in self._lists.items()}
        out["text_offset"] = [o + shift for o in self._starts[self._sent : n]]
        self._sent = n
        return out

    def sum_logprob(self) -> float:
        """Sum of the chosen tokens' log-probabilities (best_of ranking); -inf when none are known."""
        values = [v for v in self._lists["token_logprobs"] if isinstance(v, (int, float))]
        return float(sum(values)) if values else float("-inf")
