"""CodeRecord parsing, stable ids, licence classification."""

from __future__ import annotations

import pytest

from codesieve.core.records import CodeRecord, is_permissive, make_doc_index, split_doc_index


def test_doc_index_round_trip() -> None:
    assert split_doc_index(make_doc_index(3, 17)) == (3, 17)
    assert make_doc_index(1, 0) > make_doc_index(0, 2**32 - 1)


@pytest.mark.parametrize(
    "licence, expected",
    [
        ("MIT", True),
        ("apache-2.0", True),
        ("GPL-3.0", False),
        (None, False),
        ("GPL-2.0 OR MIT", True),
        ("", False),
        ("Proprietary", False),
    ],
)
def test_is_permissive(licence: str | None, expected: bool) -> None:
    assert is_permissive(licence) is expected


def test_stable_id_precedence() -> None:
    assert CodeRecord.from_dict({"content": "x", "id": 5, "repo": "r"}, 0).doc_id == "5"
    assert CodeRecord.from_dict({"content": "x", "repo": "r", "path": "p"}, 0).doc_id == "r:p"
    assert CodeRecord.from_dict({"content": "x"}, 255).doc_id == "#00000000000000ff"


def test_license_spelling_and_stars() -> None:
    rec = CodeRecord.from_dict({"content": "x", "license": "MIT", "stars": 3.0}, 0)
    assert rec.licence == "MIT" and rec.stars == 3


def test_missing_content_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="content"):
        CodeRecord.from_dict({"text": "x"}, 4)
