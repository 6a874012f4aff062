"""Persistence of accepted code: is the accepted text still there, by relative lexical edit distance?

Industry definition (as in published Copilot/IDE telemetry studies): accepted text counts as persisted
at a checkpoint when the Levenshtein distance between its lexemes and the lexemes of the code now in
its place, divided by the number of accepted lexemes, is at most 0.5. Lexemes come from
`codesieve.core.shingling`, so whitespace and comment edits do not count as changes.

A completion with no code lexemes (a comment, a docstring line) is compared by its words, comments
included, with the words of the current text; whitespace-only text by its characters (issue 14
item 8: it used to record ratio 0.0 and "persisted" whatever the code had become).

Cost: rapidfuzz's C implementations (bit-parallel Levenshtein, O(n*m/64)), so a 200,000-character
`current_text` costs milliseconds, not the 44 s of the pure-Python DP it replaced (issue 13).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rapidfuzz.distance import Indel, Levenshtein

from codesieve.core.shingling import code_lexemes, code_tokens

PERSISTED_MAX_RATIO = 0.5

# Words and single punctuation characters, comments kept: the units of comment-only text.
_WORD_RE = re.compile(r"\w+|[^\w\s]")
# The current text is lexed in pieces of about this size, cut after a newline: one regex call
# holds the GIL for its whole length, so a 200,000-character text lexed in one call stalled the
# event loop for tens of ms even from a worker thread. No lexeme or line comment spans a newline,
# so the pieces give the same lexemes.
_PIECE_CHARS = 8192


def _pieces(text: str) -> list[str]:
    out, start = [], 0
    while len(text) - start > _PIECE_CHARS:
        cut = text.rfind("\n", start, start + _PIECE_CHARS) + 1
        if cut <= start:  # one very long line: cut after a space, else anywhere
            space = text.rfind(" ", start, start + _PIECE_CHARS)
            cut = space + 1 if space > start else start + _PIECE_CHARS
        out.append(text[start:cut])
        start = cut
    out.append(text[start:])
    return out


def _tokens(text: str, lex: Callable[[str], list[str]]) -> list[str]:
    return [token for piece in _pieces(text) for token in lex(piece)]


@dataclass(frozen=True, slots=True)
class PersistenceStat:
    edit_distance_ratio: float
    is_persisted: bool
    retained_chars: int


def compute_levenshtein(a: list[str], b: list[str]) -> int:
    """Edit distance (insert, delete, substitute; cost 1 each) between two lexeme sequences."""
    return int(Levenshtein.distance(a, b))


def _retained_chars(accepted: list[str], current: list[str]) -> int:
    """Characters of accepted units that survive in order: a longest common subsequence of units."""
    blocks = Indel.opcodes(accepted, current).as_matching_blocks()
    return sum(len(accepted[i]) for blk in blocks for i in range(blk.a, blk.a + blk.size))


def _units(accepted_text: str, current_text: str) -> tuple[list[str], list[str]]:
    """What to compare: code lexemes; else words with comments; else characters."""
    accepted = [lx.text for lx in code_lexemes(accepted_text)]
    if accepted:
        return accepted, _tokens(current_text, code_tokens)
    accepted = _WORD_RE.findall(accepted_text)
    if accepted:
        return accepted, _tokens(current_text, _WORD_RE.findall)
    return list(accepted_text), list(current_text)


def compute_persistence(accepted_text: str, current_text: str) -> PersistenceStat:
    """Ratio = lev(units(accepted), units(current)) / len(units(accepted)).

    Units are code lexemes; for text without any (comment-only) the words and punctuation of the
    text with its comments; for whitespace-only text its characters. retained_chars counts the
    characters of accepted units that survive in order in the current text (a longest common
    subsequence of the two unit sequences).
    """
    accepted, current = _units(accepted_text, current_text)
    if not accepted:  # an empty acceptance: nothing was accepted, so nothing can be lost
        return PersistenceStat(0.0, True, 0)
    ratio = compute_levenshtein(accepted, current) / len(accepted)
    return PersistenceStat(ratio, ratio <= PERSISTED_MAX_RATIO, _retained_chars(accepted, current))


def persistence_from_ratio(ratio: float, accepted_chars: int) -> PersistenceStat:
    """When the plugin computed the ratio itself: retained characters estimated as (1 - ratio) * accepted."""
    return PersistenceStat(ratio, ratio <= PERSISTED_MAX_RATIO, round(max(0.0, 1.0 - ratio) * accepted_chars))
