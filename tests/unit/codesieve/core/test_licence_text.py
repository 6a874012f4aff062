"""Golden tests for codesieve.core.licence_text."""

from __future__ import annotations

import pytest

from codesieve.core.licence_text import detect_licence_text, licence_category, licence_family

GPL_HEADER = """/*
 * This program is free software; you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 2 of the License.
 */"""


@pytest.mark.parametrize(
    ("text", "family"),
    [
        (GPL_HEADER, "gpl"),
        ("#  under the terms of the GNU Lesser General Public\n#  License as published", "lgpl"),
        ("                    GNU AFFERO GENERAL PUBLIC LICENSE\n", "agpl"),
        ("// This Source Code Form is subject to the terms of the Mozilla Public\n// License, v. 2.0.", "mpl"),
        ("Eclipse Public License - v 2.0\n", "epl"),
        ('# Licensed under the Apache License, Version 2.0 (the "License");', "apache"),
        (
            "                                 Apache License\n                           Version 2.0, January 2004\n",
            "apache",
        ),
        ("Permission is hereby granted, free of charge, to any person obtaining a copy\nof this software", "mit"),
        (
            "Redistribution and use in source and binary forms, with or without\n"
            "modification, are permitted provided that the following conditions are met:",
            "bsd",
        ),
    ],
)
def test_licence_text_openings(text: str, family: str) -> None:
    [finding] = detect_licence_text(text)
    assert (finding.family, finding.kind, finding.spdx) == (family, "text", None)
    assert 0 <= finding.start < finding.end <= len(text)


def test_spdx_lines_with_spans() -> None:
    text = "// SPDX-License-Identifier: GPL-2.0-only OR MIT\nint x;\n# SPDX-License-Identifier: Apache-2.0\n"
    findings = detect_licence_text(text)
    assert [(f.kind, f.family, f.spdx) for f in findings] == [
        ("spdx", "gpl", "GPL-2.0-only OR MIT"),
        ("spdx", "apache", "Apache-2.0"),
    ]
    assert text[findings[1].start : findings[1].end] == "SPDX-License-Identifier: Apache-2.0"


def test_plain_code_has_no_licence_finding() -> None:
    code = "def licence(x):\n    return 'MIT' if x else 'GPL'  # the general public\n"
    assert detect_licence_text(code) == []


@pytest.mark.parametrize(
    ("licence", "family", "category"),
    [
        ("GPL-3.0-or-later", "gpl", "copyleft"),
        ("LGPL-2.1", "lgpl", "copyleft"),
        ("AGPL-3.0", "agpl", "copyleft"),
        ("MPL-2.0", "mpl", "copyleft"),
        ("EPL-2.0", "epl", "copyleft"),
        ("Apache-2.0", "apache", "permissive"),
        ("MIT", "mit", "permissive"),
        ("BSD-3-Clause", "bsd", "permissive"),
        ("ISC", "other", "permissive"),
        ("MIT OR GPL-2.0", "gpl", "copyleft"),
        ("Proprietary", "other", "unknown"),
        ("", "other", "unknown"),
        (None, "other", "unknown"),
    ],
)
def test_family_and_category(licence: str | None, family: str, category: str) -> None:
    assert licence_family(licence) == family
    assert licence_category(licence) == category


def test_marker_scan_equals_the_plain_regex_scan() -> None:
    """The regex is tried only where a marker's first word starts (issue 19, `codesieve scan`
    speed): the same matches as scanning every position, on real files and edge cases."""
    import sysconfig
    from pathlib import Path

    from codesieve.core.licence_text import _TEXT_RE, _text_matches

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = [p.read_text(errors="replace") for p in sorted(stdlib.glob("*.py"))[:150]]
    texts += [
        GPL_HEADER,
        "aredistribution and use in source and binary forms, with or without modification, are permitted "
        "provided that the following conditions are met",  # overlapping first words ("are" + "redistribution")
        "x = 'Licensed under the \u0130 Apache License, Version 2.0'\n# Licensed under the Apache License, Version 2.0",
        "\u212aelvin: LICENSED UNDER THE APACHE LICENSE, VERSION 2.0 and thunder the terms",
    ]
    found = 0
    for text in texts:
        expected = [(m.start(), m.end(), m.lastgroup) for m in _TEXT_RE.finditer(text)]
        assert [(m.start(), m.end(), m.lastgroup) for m in _text_matches(text, text.lower())] == expected
        found += len(expected)
    assert found >= 4
