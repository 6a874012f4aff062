"""Protocol checks and report distributions (issue 21, section 4): golden values."""

from __future__ import annotations

from experiments.bench.protocol import failure_modes, protocol_warnings, quick_signal_label, time_distribution


def test_on_protocol_runs_have_no_warnings() -> None:
    assert protocol_warnings(1, 0.0) == []  # greedy pass@1
    assert protocol_warnings(1, 0.2) == []
    assert protocol_warnings(200, 0.8) == []  # pass@1/10/100 at 0.8
    assert protocol_warnings(None, None) == []  # pre-generated: nothing to check


def test_what_cannot_be_estimated_is_named() -> None:
    (only,) = protocol_warnings(5, 0.8)
    assert only == "pass@10/100 not estimated: pass@k needs n >= k samples per task (n=5)"
    (single_draw,) = protocol_warnings(1, 0.8)
    assert "one random draw per task" in single_draw
    warnings = protocol_warnings(20, 0.2)
    assert any("pass@100 not estimated" in w for w in warnings)
    assert any("temperature around 0.8" in w and "0.2" in w for w in warnings)


def test_quick_signal_label() -> None:
    assert quick_signal_label(None, 164, 20) is None
    assert quick_signal_label(164, 164, 20) is None
    assert quick_signal_label(20, 164, 20) == "QUICK SIGNAL: first 20 of 164 tasks, n=20; not a benchmark score"


def test_failure_modes_group_categories() -> None:
    rows = [
        {"passed": True, "category": "passed"},
        {"passed": False, "category": "assertion"},
        {"passed": False, "category": "wrong_answer"},
        {"passed": False, "category": "exception:TypeError"},
        {"passed": False, "category": "exception:TypeError"},
        {"passed": False, "category": "syntax_error"},
        {"passed": False, "category": "timeout"},
        {"passed": False, "category": "sandbox_violation"},
        {"passed": False, "category": "blocked"},
    ]
    assert failure_modes(rows) == {
        "wrong_answer": 2,
        "runtime_error:TypeError": 2,
        "syntax_error": 1,
        "timeout": 1,
        "sandbox_violation": 1,
        "blocked": 1,
    }


def test_time_distribution() -> None:
    assert time_distribution([]) == {}
    got = time_distribution([0.1 * i for i in range(1, 11)])
    assert got == {"min": 0.1, "p50": 0.6, "p90": 1.0, "p99": 1.0, "max": 1.0, "total": 5.5}
