"""Two security runs compared: B - A in insecure rate with Newcombe's interval; golden values."""

from __future__ import annotations

from typing import Any

import pytest

from experiments.bench.security_compare import (
    compare_security,
    difference,
    is_security_summary,
    render_security_comparison,
)
from experiments.bench.security_report import rate


def _summary(
    suite: str, per_language: dict[str, tuple[int, int]], per_cwe: dict[str, tuple[int, int]]
) -> dict[str, Any]:
    k = sum(v[0] for v in per_language.values())
    n = sum(v[1] for v in per_language.values())
    return {
        "suite": suite,
        "overall": rate(k, n),
        "per_language": {lang: rate(*v) for lang, v in per_language.items()},
        "per_cwe": {c: rate(*v) for c, v in per_cwe.items()},
    }


def test_newcombe_golden_value() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80, method 10
    # (hybrid score, from Wilson intervals) gives 0.0524 to 0.3339 for the difference 0.2.
    cell = difference(rate(48, 80), rate(56, 70))
    assert cell is not None
    assert cell["diff"] == 0.2 and cell["ci95"] == [0.0524, 0.3339] and cell["differs"] is True


def test_per_language_and_cwe_cells_and_markdown() -> None:
    a = _summary("cyberseceval-instruct", {"python": (10, 100), "c": (5, 50)}, {"CWE-89": (3, 20)})
    b = _summary("cyberseceval-instruct", {"python": (30, 100), "rust": (1, 10)}, {"CWE-89": (3, 20)})
    result = compare_security(a, b)
    assert set(result["per_language"]) == {"python"}  # a cell needs samples in both runs
    assert result["only_in_a"] == ["c"] and result["only_in_b"] == ["rust"]
    py = result["per_language"]["python"]
    assert py["diff"] == 0.2 and py["differs"] is True and py["ci95"][0] > 0
    same = result["per_cwe"]["CWE-89"]
    assert same["diff"] == 0.0 and same["differs"] is False and same["ci95"][0] < 0 < same["ci95"][1]
    md = render_security_comparison(result, "runA", "runB")
    assert "| python | 10.0% (10/100) | 30.0% (30/100) | +20.0 [" in md and "| yes |" in md
    assert "Newcombe" in md


def test_identical_all_zero_runs_do_not_differ() -> None:
    a = _summary("builtin", {"python": (0, 24)}, {})
    cell = compare_security(a, a)["overall"]
    assert cell["diff"] == 0.0 and cell["differs"] is False and cell["ci95"][0] < 0 < cell["ci95"][1]


def test_refuses_other_summaries_and_different_suites() -> None:
    a = _summary("cyberseceval-instruct", {"python": (1, 2)}, {})
    assert is_security_summary(a) and not is_security_summary({"per_task": {}})
    with pytest.raises(ValueError, match="different suites"):
        compare_security(a, {**a, "suite": "cyberseceval-autocomplete"})
    with pytest.raises(ValueError, match="must be `eval security` runs"):
        compare_security(a, {"per_task": {}})
