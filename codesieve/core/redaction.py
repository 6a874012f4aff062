"""Pure redaction: replace secret spans with typed placeholders, reversibly for prompts.

`apply_redactions` writes the typed placeholder (`<AWS_ACCESS_KEY>`) over each span; overlapping
spans merge and the placeholder of the first (earliest, then longest) span wins.
`redact_reversibly` numbers placeholders (`<AWS_ACCESS_KEY_1>`) so `restore_placeholders` can
put the originals back into a completion (the `redact_before_model` path: the model never sees
the secret, the user still gets it back).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = ["RedactionMap", "Span", "apply_redactions", "redact_reversibly", "restore_placeholders"]


class Span(Protocol):
    """Anything with a character span and a typed placeholder (e.g. SecretFinding)."""

    @property
    def placeholder(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


def _merged(text: str, findings: Iterable[Span]) -> list[tuple[int, int, str]]:
    # Longest span first at each start; ties keep the caller's order (its most specific first).
    spans = sorted(
        ((max(0, f.start), min(len(text), f.end), f.placeholder) for f in findings),
        key=lambda s: (s[0], -s[1]),
    )
    merged: list[tuple[int, int, str]] = []
    for start, end, placeholder in spans:
        if end <= start:
            continue
        if merged and start < merged[-1][1]:
            prev_start, prev_end, prev_placeholder = merged[-1]
            merged[-1] = (prev_start, max(prev_end, end), prev_placeholder)
        else:
            merged.append((start, end, placeholder))
    return merged


def apply_redactions(text: str, findings: Iterable[Span]) -> str:
    """Replace every finding's span in `text` by its placeholder.

    Args:
        text: the original text.
        findings: spans with placeholders; overlapping spans are merged first.
    Returns:
        the redacted text; characters outside every span are unchanged and in order.
    """
    out: list[str] = []
    pos = 0
    for start, end, placeholder in _merged(text, findings):
        out.append(text[pos:start])
        out.append(placeholder)
        pos = end
    out.append(text[pos:])
    return "".join(out)


@dataclass(frozen=True)
class RedactionMap:
    """Numbered placeholder -> original secret. Holds secrets: its repr shows only the count."""

    originals: Mapping[str, str]

    def __repr__(self) -> str:
        return f"RedactionMap(<{len(self.originals)} placeholders>)"

    __str__ = __repr__

    def __len__(self) -> int:
        return len(self.originals)


def redact_reversibly(text: str, findings: Iterable[Span]) -> tuple[str, RedactionMap]:
    """Redact with numbered placeholders that `restore_placeholders` can undo.

    The same secret value always gets the same placeholder; a placeholder is never one that
    already occurs in `text`, so restoring cannot touch the user's own text.

    Returns:
        (redacted text, RedactionMap).
    """
    out: list[str] = []
    originals: dict[str, str] = {}
    by_value: dict[str, str] = {}
    counter = 0
    pos = 0
    for start, end, placeholder in _merged(text, findings):
        value = text[start:end]
        numbered = by_value.get(value)
        if numbered is None:
            stem = placeholder[:-1] if placeholder.endswith(">") else placeholder
            while True:
                counter += 1
                numbered = f"{stem}_{counter}>"
                if numbered not in text:
                    break
            by_value[value] = numbered
            originals[numbered] = value
        out.append(text[pos:start])
        out.append(numbered)
        pos = end
    out.append(text[pos:])
    return "".join(out), RedactionMap(originals)


def restore_placeholders(text: str, redactions: RedactionMap) -> str:
    """Put the original secrets back wherever a numbered placeholder occurs in `text`."""
    for numbered, value in redactions.originals.items():
        text = text.replace(numbered, value)
    return text
