"""Persistence of accepted code: is the accepted text still there, by relative lexical edit distance?

Industry definition (as in published Copilot/IDE telemetry studies): accepted text counts as persisted
at a checkpoint when the Levenshtein distance between its lexemes and the lexemes of the code now in
its place, divided by the number of accepted lexemes, is at most 0.5. Lexemes come from
`dedup.shingling`, so whitespace and comment edits do not count as changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from dedup.shingling import code_lexemes, code_tokens

PERSISTED_MAX_RATIO = 0.5


@dataclass(frozen=True, slots=True)
class PersistenceStat:
    edit_distance_ratio: float
    is_persisted: bool
    retained_chars: int


def compute_levenshtein(a: list[str], b: list[str]) -> int:
    """Edit distance (insert, delete, substitute; cost 1 each) between two lexeme sequences."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def compute_persistence(accepted_text: str, current_text: str) -> PersistenceStat:
    """Ratio = lev(lexemes(accepted), lexemes(current)) / len(lexemes(accepted)).

    retained_chars counts the characters of accepted lexemes that survive in order in the current
    text (the matching blocks of the two lexeme sequences).
    """
    accepted = code_lexemes(accepted_text)
    current = code_tokens(current_text)
    if not accepted:
        return PersistenceStat(0.0, True, 0)
    tokens = [lx.text for lx in accepted]
    ratio = compute_levenshtein(tokens, current) / len(tokens)
    blocks = SequenceMatcher(a=tokens, b=current, autojunk=False).get_matching_blocks()
    retained = sum(len(tokens[i]) for blk in blocks for i in range(blk.a, blk.a + blk.size))
    return PersistenceStat(ratio, ratio <= PERSISTED_MAX_RATIO, retained)


def persistence_from_ratio(ratio: float, accepted_chars: int) -> PersistenceStat:
    """When the plugin computed the ratio itself: retained characters estimated as (1 - ratio) * accepted."""
    return PersistenceStat(ratio, ratio <= PERSISTED_MAX_RATIO, round(max(0.0, 1.0 - ratio) * accepted_chars))
