"""Pure overview logic: parse the page's filters, and turn the SQL sums into the rates it shows.

Definitions are those of `codesieve ab report` (experiments/ab/metrics.py): acceptance = accepted /
shown, persistence at T s = persisted events at T s / accepted, retained characters = characters
still present at the 600 s checkpoint. The checkpoints are the telemetry contract's
(codesieve/core/telemetry/persistence.py), which that module uses too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

# The persistence checkpoints the overview shows (a subset of the contract's PERSISTENCE_CHECKPOINTS_S).
PERSISTENCE_SHOWN_S: tuple[int, ...] = (30, 120, 600)
DEFAULT_DAYS = 30  # the overview's range when none is given: the last 30 UTC days, today included
MAX_DAYS = 366
_LABEL = re.compile(r"^[A-Za-z0-9_.:/+-]{1,200}$")  # model, language, experiment and arm values


@dataclass(frozen=True)
class OverviewFilters:
    since: datetime | None
    until: datetime | None  # exclusive
    language: str | None = None
    model: str | None = None
    experiment: str | None = None
    arm: str | None = None
    user: str | None = None  # as typed; only its keyed hash (unit_id) reaches SQL
    unit_id: str | None = None

    def form_values(self) -> dict[str, str]:
        """The filters as the form shows them (dates inclusive)."""
        assert self.since is not None and self.until is not None
        return {
            "since": self.since.date().isoformat(),
            "until": (self.until - timedelta(days=1)).date().isoformat(),
            "language": self.language or "",
            "model": self.model or "",
            "experiment": self.experiment or "",
            "arm": self.arm or "",
            "user": self.user or "",
        }


def _date(params: Mapping[str, str], name: str, default: date) -> date | str:
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return f"{name}: {raw!r} is not a date (YYYY-MM-DD)"


def parse_filters(
    params: Mapping[str, str], *, today: date, pseudonymize: Callable[[str], str]
) -> OverviewFilters | str:
    """The overview's filters from query parameters, or a message saying which one is wrong.

    Args:
        params: since/until (inclusive UTC dates), language, model, experiment, arm, user.
        today: the current UTC date (the default range ends today).
        pseudonymize: user name -> unit id (the gateway's keyed hash), so no name reaches SQL.
    """
    since = _date(params, "since", today - timedelta(days=DEFAULT_DAYS - 1))
    until = _date(params, "until", today)
    if isinstance(since, str):
        return since
    if isinstance(until, str):
        return until
    if until < since:
        return "until must not be before since"
    if (until - since).days >= MAX_DAYS:
        return f"the range may cover at most {MAX_DAYS} days"
    labels: dict[str, str | None] = {}
    for name in ("language", "model", "experiment", "arm"):
        value = (params.get(name) or "").strip() or None
        if value is not None and not _LABEL.match(value):
            return f"{name}: letters, digits and _.:/+- only (at most 200)"
        labels[name] = value
    user = (params.get("user") or "").strip() or None
    if user is not None and len(user) > 200:
        return "user: at most 200 characters"
    return OverviewFilters(
        since=datetime.combine(since, time(), UTC),
        until=datetime.combine(until + timedelta(days=1), time(), UTC),
        user=user,
        unit_id=pseudonymize(user) if user else None,
        **labels,
    )


def _rate(num: float, den: float) -> float | None:
    return num / den if den else None


def reason_counts(rows: list[tuple[str, int]]) -> dict[str, int]:
    """Completions per filter reason code, from (JSON list of codes, completions) groups."""
    out: dict[str, int] = {}
    for codes, n in rows:
        for code in json.loads(codes) if codes else []:
            out[code] = out.get(code, 0) + int(n)
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def _event_rates(row: Mapping[str, Any]) -> dict[str, Any]:
    accepted = float(row["accepted"])
    return {
        "shown": int(row["shown"]),
        "accepted": int(row["accepted"]),
        "acceptance_rate": _rate(accepted, float(row["shown"])),
        "persistence": {s: _rate(float(row[f"persisted_{s}s"]), accepted) for s in PERSISTENCE_SHOWN_S},
        "accepted_chars": int(row["accepted_chars"] or 0),
        "retained_chars": int(row["retained_chars"] or 0),
    }


def summarize(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The page's numbers from queries.fetch_overview's sums: totals, rates, per-day and per-arm rows."""
    completions = sum(int(r["completions"]) for r in raw["completions_by_day"])
    errors = sum(int(r["errors"]) for r in raw["completions_by_day"])
    ev_keys = (
        "shown",
        "accepted",
        "accepted_chars",
        "retained_chars",
        *(f"persisted_{s}s" for s in PERSISTENCE_SHOWN_S),
    )
    totals = {k: sum(int(r[k] or 0) for r in raw["events_by_day"]) for k in ev_keys}
    days = [
        {"day": str(r["day"]), "completions": int(r["completions"]), "errors": int(r["errors"])}
        for r in raw["completions_by_day"]
    ]
    acceptance_by_day = [(str(r["day"]), _rate(float(r["accepted"]), float(r["shown"]))) for r in raw["events_by_day"]]
    return {
        "completions": completions,
        "errors": errors,
        "error_rate": _rate(errors, completions),
        "latency_p50_ms": raw["latency_p50_ms"],
        "latency_p95_ms": raw["latency_p95_ms"],
        "latency_resolution": raw.get("latency_resolution", "exact"),
        **_event_rates(totals),
        "filter_actions": {a: int(raw["filter_actions"].get(a, 0)) for a in ("annotated", "redacted", "blocked")},
        "reasons": reason_counts(raw["reason_rows"]),
        "days": days,
        "acceptance_by_day": acceptance_by_day,
        "by_arm": [{"experiment": r["experiment"], "arm": r["arm"], **_event_rates(r)} for r in raw["by_arm"]],
    }


def merge_sums(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Sums over two disjoint day ranges (rolled-up days, then raw days) as one."""
    arms: dict[tuple[Any, Any], dict[str, Any]] = {}
    for row in [*a["by_arm"], *b["by_arm"]]:
        key = (row["experiment"], row["arm"])
        cur = arms.setdefault(key, {"experiment": key[0], "arm": key[1]})
        for k, v in row.items():
            if k not in ("experiment", "arm"):
                cur[k] = cur.get(k, 0) + int(v or 0)
    actions = {k: int(a["filter_actions"].get(k, 0)) + int(b["filter_actions"].get(k, 0)) for k in
               {*a["filter_actions"], *b["filter_actions"]}}  # fmt: skip
    return {
        "completions_by_day": [*a["completions_by_day"], *b["completions_by_day"]],
        "filter_actions": actions,
        "reason_rows": [*a["reason_rows"], *b["reason_rows"]],
        "events_by_day": [*a["events_by_day"], *b["events_by_day"]],
        "by_arm": sorted(arms.values(), key=lambda r: (str(r["experiment"]), str(r["arm"]))),
    }


def histogram_percentile(hist: Mapping[int, int], q: float) -> float | None:
    """percentile_cont(q) of the multiset a histogram describes (value -> count).

    Linear interpolation between the order statistics at floor and ceil of q * (n - 1), as
    PostgreSQL's percentile_cont; over whole-millisecond values, so within 0.5 ms of the raw one.
    """
    n = sum(hist.values())
    if n == 0:
        return None
    pos = q * (n - 1)
    lo_rank, frac = int(pos), pos - int(pos)
    lo_val = hi_val = None
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if lo_val is None and seen > lo_rank:
            lo_val = value
        if seen > lo_rank + 1 or (frac == 0 and lo_val is not None):
            hi_val = value
            break
    assert lo_val is not None
    hi_val = lo_val if hi_val is None else hi_val
    return float(lo_val + (hi_val - lo_val) * frac)


_EVENT_KEYS = (
    "shown",
    "accepted",
    "accepted_chars",
    *(f"persisted_{s}s" for s in PERSISTENCE_SHOWN_S),
    "retained_chars",
)


def fold_raw(completion_rows: list[dict[str, Any]], event_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The overview's sums from the raw statements' rows.

    Args:
        completion_rows: per (day, filter_action, filter_reasons): completions, errors.
        event_rows: per (day, experiment, arm): the event sums (shown, accepted, ...).
    """
    by_day: dict[Any, dict[str, int]] = {}
    actions: dict[str, int] = {}
    reasons: list[tuple[str, int]] = []
    for r in completion_rows:
        day = by_day.setdefault(r["day"], {"completions": 0, "errors": 0})
        day["completions"] += int(r["completions"])
        day["errors"] += int(r["errors"])
        actions[r["filter_action"]] = actions.get(r["filter_action"], 0) + int(r["completions"])
        if r["filter_reasons"] is not None:
            reasons.append((r["filter_reasons"], int(r["completions"])))
    ev_day: dict[Any, dict[str, int]] = {}
    arms: dict[tuple[Any, Any], dict[str, Any]] = {}
    for r in event_rows:
        targets = [ev_day.setdefault(r["day"], dict.fromkeys(_EVENT_KEYS, 0))]
        if r["arm"] is not None:
            targets.append(arms.setdefault((r["experiment"], r["arm"]), {
                "experiment": r["experiment"], "arm": r["arm"], **dict.fromkeys(_EVENT_KEYS, 0)}))  # fmt: skip
        for t in targets:
            for k in _EVENT_KEYS:
                t[k] += int(r[k] or 0)
    return {
        "completions_by_day": [{"day": d, **v} for d, v in sorted(by_day.items())],
        "filter_actions": actions,
        "reason_rows": reasons,
        "events_by_day": [{"day": d, **v} for d, v in sorted(ev_day.items())],
        "by_arm": sorted(arms.values(), key=lambda r: (str(r["experiment"]), str(r["arm"]))),
    }
