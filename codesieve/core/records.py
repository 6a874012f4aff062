"""CodeRecord and DocMeta: the unit of data of the corpus jobs, and the keep rule's view of it.

Input records are plain dicts with `content` and metadata (`repo`, `path`, `licence` or
`license`, `language`, optional `stars`, optional `id`); outputs keep the original dict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PERMISSIVE_LICENCES",
    "CodeRecord",
    "DocMeta",
    "is_permissive",
    "make_doc_index",
    "split_doc_index",
]

# SPDX ids (compared case-insensitively) that the keep rule treats as permissive: they allow
# redistribution of the code in a model's training set without copyleft or attribution-in-output
# obligations beyond keeping the notice. Copyleft (GPL/LGPL/AGPL/MPL/EPL), non-commercial and
# unknown licences are not permissive.
PERMISSIVE_LICENCES: frozenset[str] = frozenset(
    s.lower()
    for s in (
        "MIT",
        "MIT-0",
        "Apache-2.0",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "BSD-3-Clause-Clear",
        "0BSD",
        "ISC",
        "Unlicense",
        "CC0-1.0",
        "Zlib",
        "BSL-1.0",
        "PSF-2.0",
        "Python-2.0",
        "X11",
        "NCSA",
        "UPL-1.0",
        "WTFPL",
    )
)

# A document index packs (input file ordinal, row in file) into one int64: 2^32 rows per file.
_ROW_BITS = 32


def make_doc_index(file_ordinal: int, row: int) -> int:
    """The stable integer id of row `row` of input file number `file_ordinal`."""
    return (file_ordinal << _ROW_BITS) | row


def split_doc_index(doc_index: int) -> tuple[int, int]:
    return doc_index >> _ROW_BITS, doc_index & ((1 << _ROW_BITS) - 1)


def is_permissive(licence: str | None) -> bool:
    """True if `licence` (an SPDX id, or an `A OR B` expression) is in PERMISSIVE_LICENCES."""
    if not licence:
        return False
    options = [p.strip().strip("()").lower() for p in licence.replace(" or ", " OR ").split(" OR ")]
    return any(o in PERMISSIVE_LICENCES for o in options)


_INT64_MAX = (1 << 63) - 1


def _stars(value: Any, doc_index: int) -> int:
    """`stars` as an int64 (it is stored as one); absent or not a number counts as 0.

    JSON readers accept `Infinity`, `NaN` and 1e300, which no star count is: refused with the record.
    """
    if not isinstance(value, int | float) or isinstance(value, bool):
        return 0
    if isinstance(value, float) and not math.isfinite(value) or abs(value) > _INT64_MAX:
        raise ValueError(f"record {doc_index}: `stars` must be a whole number below 2**63, not {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class CodeRecord:
    """One input record: its position-derived index, stable id, content and metadata."""

    doc_index: int
    doc_id: str
    content: str
    repo: str | None
    path: str | None
    licence: str | None
    language: str | None
    stars: int

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], doc_index: int) -> CodeRecord:
        content = raw.get("content")
        if not isinstance(content, str):
            raise ValueError(f"record {doc_index}: `content` is missing or not a string")
        repo, path = raw.get("repo"), raw.get("path")
        # stable id: the record's own id, else repo:path, else its position
        if raw.get("id") is not None:
            doc_id = str(raw["id"])
        elif repo is not None or path is not None:
            doc_id = f"{repo or ''}:{path or ''}"
        else:
            doc_id = f"#{doc_index:016x}"
        licence = raw.get("licence", raw.get("license"))
        return cls(
            doc_index=doc_index,
            doc_id=doc_id,
            content=content,
            repo=None if repo is None else str(repo),
            path=None if path is None else str(path),
            licence=None if licence is None else str(licence),
            language=None if raw.get("language") is None else str(raw["language"]),
            stars=_stars(raw.get("stars"), doc_index),
        )


@dataclass(frozen=True, slots=True)
class DocMeta:
    """What the keep rule and the report need to know about a document (no content)."""

    doc_index: int
    doc_id: str
    exact_hash: str
    is_permissive: bool
    stars: int
    language: str
    n_bytes: int

    def keep_key(self) -> tuple[int, int, str, int]:
        """Smaller is kept: permissive licence first, then more stars, then the stable id."""
        return (0 if self.is_permissive else 1, -self.stars, self.doc_id, self.doc_index)
