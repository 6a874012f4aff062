"""Pure licence-text detection: SPDX-License-Identifier lines and licence texts' opening lines.

Also owns the licence vocabulary shared with the provenance filter: `licence_family` maps an SPDX
id (or a free-form licence string from a corpus) to a family, and `licence_category` to
copyleft / permissive / unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "LicenceCategory",
    "LicenceFamily",
    "LicenceFinding",
    "detect_licence_text",
    "licence_category",
    "licence_family",
]

LicenceFamily = Literal["gpl", "lgpl", "agpl", "mpl", "epl", "apache", "mit", "bsd", "other"]
LicenceCategory = Literal["copyleft", "permissive", "unknown"]

COPYLEFT_FAMILIES: frozenset[str] = frozenset({"gpl", "lgpl", "agpl", "mpl", "epl"})
PERMISSIVE_FAMILIES: frozenset[str] = frozenset({"apache", "mit", "bsd"})
# Permissive licences outside the named families (SPDX ids, lower case).
_OTHER_PERMISSIVE = frozenset(
    {
        "isc",
        "unlicense",
        "0bsd",
        "zlib",
        "psf-2.0",
        "python-2.0",
        "cc0-1.0",
        "bsl-1.0",
        "wtfpl",
        "x11",
        "hpnd",
        "upl-1.0",
        "ms-pl",
        "artistic-2.0",
        "postgresql",
        "ncsa",
    }
)


@dataclass(frozen=True, slots=True)
class LicenceFinding:
    """A licence marker in text: family, how it was found, the SPDX expression if any, span."""

    family: LicenceFamily
    kind: Literal["spdx", "text"]
    spdx: str | None
    start: int
    end: int


def licence_family(licence: str | None) -> LicenceFamily:
    """Family of an SPDX id / expression or a free-form licence name ("other" when unknown).

    For an expression (`MIT OR GPL-2.0`), the most restrictive family present wins.
    """
    if not licence:
        return "other"
    text = licence.lower()
    # Most restrictive first: AGPL > GPL > LGPL > MPL/EPL > permissive.
    for family, pattern in _FAMILY_PATTERNS:
        if pattern.search(text):
            return family
    return "other"


def licence_category(licence: str | None) -> LicenceCategory:
    """copyleft / permissive / unknown for an SPDX id or licence name."""
    family = licence_family(licence)
    if family in COPYLEFT_FAMILIES:
        return "copyleft"
    if family in PERMISSIVE_FAMILIES:
        return "permissive"
    if licence and licence.strip().lower() in _OTHER_PERMISSIVE:
        return "permissive"
    return "unknown"


_FAMILY_PATTERNS: tuple[tuple[LicenceFamily, re.Pattern[str]], ...] = (
    ("agpl", re.compile(r"\bagpl|affero")),
    ("lgpl", re.compile(r"\blgpl|lesser general public|library general public")),
    ("gpl", re.compile(r"\bgpl|general public licen[cs]e")),
    ("mpl", re.compile(r"\bmpl\b|\bmpl-|mozilla public")),
    ("epl", re.compile(r"\bepl\b|\bepl-|eclipse public")),
    ("apache", re.compile(r"apache")),
    ("mit", re.compile(r"(?<![a-z])mit(?![a-z])|expat")),
    ("bsd", re.compile(r"\bbsd")),
)

# Between two words of a licence sentence: whitespace, comment markers and line breaks, so
# "Licensed under the Apache\n# License, Version 2.0" still matches.
_SEP = r"(?:[\s#*/;!'\"-]|//|--|\bdnl\b)+"


def _phrase(words: str) -> str:
    return _SEP.join(re.escape(w) for w in words.split())


# Opening lines / headers of each licence text (from the licence texts themselves).
_TEXT_MARKERS: tuple[tuple[LicenceFamily, str], ...] = (
    ("agpl", "GNU AFFERO GENERAL PUBLIC LICENSE"),
    ("agpl", "under the terms of the GNU Affero General Public License"),
    ("lgpl", "GNU LESSER GENERAL PUBLIC LICENSE"),
    ("lgpl", "GNU LIBRARY GENERAL PUBLIC LICENSE"),
    ("lgpl", "under the terms of the GNU Lesser General Public License"),
    ("lgpl", "under the terms of the GNU Library General Public License"),
    ("gpl", "GNU GENERAL PUBLIC LICENSE Version"),
    ("gpl", "under the terms of the GNU General Public License"),
    ("mpl", "Mozilla Public License Version"),
    ("mpl", "This Source Code Form is subject to the terms of the Mozilla Public License"),
    ("epl", "Eclipse Public License - v"),
    ("epl", "are made available under the terms of the Eclipse Public License"),
    ("apache", "Apache License Version 2.0, January 2004"),
    ("apache", "Licensed under the Apache License, Version 2.0"),
    ("mit", "Permission is hereby granted, free of charge, to any person obtaining a copy"),
    (
        "bsd",
        "Redistribution and use in source and binary forms, with or without modification, "
        "are permitted provided that the following conditions are met",
    ),
)
_TEXT_RE = re.compile(
    "|".join(f"(?P<m{i}>{_phrase(words)})" for i, (_, words) in enumerate(_TEXT_MARKERS)),
    re.IGNORECASE,
)
# Where a marker can start: each marker's first word, looked up (zero-width, so overlapping starts
# such as "are" + "redistribution" are all found) in the lower-cased text. `_TEXT_RE.match` is then
# tried at those positions only, in order, skipping positions inside the previous match: exactly
# what `_TEXT_RE.finditer` returns (tested), without trying the IGNORECASE alternation at every
# position of the text. benchmarks/secrets_cli.py corpus (2,000 site-packages files, 24 MB):
# 17.7 s -> 1.2 s (load ~10 on 2 cores); it was the largest cost of `codesieve scan`.
_MARKER_STARTS = re.compile(
    "(?=" + "|".join(sorted({re.escape(words.split()[0].lower()) for _, words in _TEXT_MARKERS})) + ")"
)
# Non-ASCII characters that re.IGNORECASE matches to ASCII letters (its extra case-fold table),
# mapped first so that lower-casing keeps offsets and finds every marker start IGNORECASE finds.
_IGNORECASE_FOLDS = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})
_SPDX_RE = re.compile(r"SPDX-License-Identifier:[ \t]*(?P<expr>[A-Za-z0-9.+()\- \t]*[A-Za-z0-9+)])")


def detect_licence_text(text: str) -> list[LicenceFinding]:
    """Find SPDX-License-Identifier lines and licence-text openings in `text`.

    Args:
        text: a completion or any file content.
    Returns:
        findings sorted by start; an SPDX finding spans the identifier line's tag and expression.
    """
    lowered = text.lower()
    # Every marker contains one of these words: skip the costly phrase regex on ordinary code.
    if "licen" not in lowered and "permission" not in lowered and "redistribution" not in lowered:
        return []
    findings = [
        LicenceFinding(licence_family(m.group("expr")), "spdx", m.group("expr").strip(), m.start(), m.end())
        for m in _SPDX_RE.finditer(text)
    ]
    for m in _text_matches(text, lowered):
        index = int(next(name for name, value in m.groupdict().items() if value)[1:])
        findings.append(LicenceFinding(_TEXT_MARKERS[index][0], "text", None, m.start(), m.end()))
    return sorted(findings, key=lambda f: (f.start, f.end))


def _text_matches(text: str, lowered: str) -> list[re.Match[str]]:
    """`list(_TEXT_RE.finditer(text))`, trying the regex only where a marker's first word starts."""
    if not text.isascii():
        lowered = text.translate(_IGNORECASE_FOLDS).lower()
        if len(lowered) != len(text):  # lower-casing moved offsets: the plain scan
            return list(_TEXT_RE.finditer(text))
    out: list[re.Match[str]] = []
    resume = 0
    for start in _MARKER_STARTS.finditer(lowered):
        if start.start() >= resume:
            m = _TEXT_RE.match(text, start.start())
            if m:
                out.append(m)
                resume = m.end()
    return out
