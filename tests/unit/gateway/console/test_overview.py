"""gateway/console/overview.py: filter parsing and the rates, with literal inputs."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import numpy as np
import pytest

from codesieve.core.telemetry.persistence import PERSISTENCE_CHECKPOINTS_S
from gateway.console.overview import (
    PERSISTENCE_SHOWN_S,
    OverviewFilters,
    parse_filters,
    reason_counts,
    summarize,
)

TODAY = date(2026, 12, 3)


def _parse(**params: str) -> OverviewFilters | str:
    return parse_filters(params, today=TODAY, pseudonymize=lambda u: f"h({u})")


def test_the_checkpoints_shown_are_ones_the_gateway_records() -> None:
    assert set(PERSISTENCE_SHOWN_S) <= set(PERSISTENCE_CHECKPOINTS_S)


def test_default_range_is_the_last_30_utc_days_and_until_is_inclusive() -> None:
    f = _parse()
    assert isinstance(f, OverviewFilters)
    assert f.since == datetime(2026, 11, 4, tzinfo=UTC)
    assert f.until == datetime(2026, 12, 4, tzinfo=UTC)
    assert f.form_values()["until"] == "2026-12-03"


def test_a_user_reaches_sql_only_as_its_keyed_hash() -> None:
    f = _parse(user="dora", model="tiny-code", arm="treatment")
    assert isinstance(f, OverviewFilters)
    assert (f.unit_id, f.user, f.model, f.arm, f.language) == ("h(dora)", "dora", "tiny-code", "treatment", None)


def test_bad_filters_are_messages() -> None:
    assert _parse(since="yesterday") == "since: 'yesterday' is not a date (YYYY-MM-DD)"
    assert _parse(since="2026-12-03", until="2026-12-01") == "until must not be before since"
    assert _parse(since="2024-01-01") == "the range may cover at most 366 days"
    assert str(_parse(model="x' OR 1=1 --")).startswith("model: letters")


def test_reason_counts_explode_the_json_lists() -> None:
    rows = [(json.dumps(["secret.aws_access_key", "licence.gpl"]), 2), (json.dumps(["licence.gpl"]), 3)]
    assert reason_counts(rows) == {"licence.gpl": 5, "secret.aws_access_key": 2}


def test_summarize_rates() -> None:
    ev = {"shown": 8, "accepted": 4, "accepted_chars": 120, "retained_chars": 90,
          "persisted_30s": 3, "persisted_120s": 2, "persisted_600s": 1}  # fmt: skip
    raw = {
        "completions_by_day": [
            {"day": "2026-12-01", "completions": 6, "errors": 1},
            {"day": "2026-12-02", "completions": 4, "errors": 0},
        ],  # fmt: skip
        "events_by_day": [{"day": "2026-12-01", **ev}],
        "by_arm": [{"experiment": "e", "arm": "control", **ev}],
        "filter_actions": {"none": 7, "redacted": 2, "blocked": 1},
        "reason_rows": [],
        "latency_p50_ms": 10.0,
        "latency_p95_ms": 30.0,
    }
    s = summarize(raw)
    assert (s["completions"], s["errors"], s["error_rate"]) == (10, 1, 0.1)
    assert (s["acceptance_rate"], s["persistence"]) == (0.5, {30: 0.75, 120: 0.5, 600: 0.25})
    assert s["filter_actions"] == {"annotated": 0, "redacted": 2, "blocked": 1}
    assert s["by_arm"][0]["acceptance_rate"] == 0.5
    empty = summarize({**raw, "events_by_day": [], "completions_by_day": [], "by_arm": []})
    assert (empty["acceptance_rate"], empty["error_rate"]) == (None, None)


def test_histogram_percentile_is_percentile_cont_of_the_values() -> None:
    from gateway.console.overview import histogram_percentile

    rng = np.random.default_rng(1)
    for n in (1, 2, 7, 100, 1001):
        values = np.round(rng.gamma(2.0, 50.0, n)).astype(int)
        hist = dict(zip(*np.unique(values, return_counts=True), strict=True))
        for q in (0.0, 0.5, 0.95, 1.0):
            assert histogram_percentile(hist, q) == pytest.approx(float(np.percentile(values, 100 * q)))
    assert histogram_percentile({}, 0.5) is None
