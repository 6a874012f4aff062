"""Agreement with an independent engine: GrowthBook's gbstats 0.8.0 on the same per-unit aggregates.

gbstats pins numpy<2 / pandas<2, so it lives in its own virtual environment (.venv/gbstats-env,
built once with `python3 -m venv` + `pip install gbstats==0.8.0`, reused when present) and is
called through a subprocess with JSON aggregates; the product keeps current numpy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from experiments.ab.metrics import DEFAULT_METRICS, PERSISTENCE_AFTER_S, MetricSpec, build_stat, required_moments
from experiments.ab.significance import (
    apply_cuped,
    compute_confidence_sequence,
    compute_srm_p_value,
    compute_welch_test,
)
from experiments.ab.simulation import compute_single_moments, simulate_units

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[4]
GBSTATS_ENV = REPO / ".venv" / "gbstats-env"
DRIVER = REPO / "tests" / "fixtures" / "ab" / "gbstats_driver.py"
TOL = 1e-6

# Every ratio metric of the report (acceptance, CAR, wCAR, PCW, persistence, guardrail ratios the
# simulation has), a per-unit mean, and a CUPED mean; kind "ratio" for all ratio metrics.
_BY_NAME = {m.name: m for m in DEFAULT_METRICS}
SPECS = {
    **{
        name: _BY_NAME[name]
        for name in (
            "acceptance_rate",
            "car",
            "wcar",
            "pcw",
            *(f"persistence_rate_{s}s" for s in PERSISTENCE_AFTER_S),
            "latency_mean_ms",
            "error_rate",
        )
    },
    "mean": MetricSpec("shown_per_unit", "", "mean", "n_shown"),
    "cuped": MetricSpec("shown_per_unit", "", "mean", "n_shown", covariate="pre_n_shown"),
}


def _python() -> Path:
    return GBSTATS_ENV / "bin" / "python"


def _has_gbstats() -> bool:
    if not _python().exists():
        return False
    check = subprocess.run(
        [str(_python()), "-c", "import importlib.metadata as m; print(m.version('gbstats'))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return check.returncode == 0 and check.stdout.strip() == "0.8.0"


@pytest.fixture(scope="session")
def gbstats_python() -> Path:
    """The gbstats environment's interpreter; built on first use (fails, never skips)."""
    if not _has_gbstats():
        # the system interpreter, not this venv's: a clean environment with gbstats' own pins
        base = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
        subprocess.run([base, "-m", "venv", "--clear", str(GBSTATS_ENV)], check=True, timeout=300)
        subprocess.run([str(_python()), "-m", "pip", "install", "-q", "gbstats==0.8.0"], check=True, timeout=600)
    assert _has_gbstats(), "could not build the gbstats 0.8.0 environment"
    return _python()


def _cases() -> list[dict[str, object]]:
    sim = simulate_units(
        np.random.default_rng(99), n_experiments=4, n_units=800, effect_relative=0.05, shown_effect_relative=0.05
    )
    cases = []
    for key, spec in SPECS.items():
        kind = key if key in ("mean", "cuped") else spec.kind
        cuped = kind == "cuped"
        cols, prods = required_moments((spec,), with_cuped=cuped)
        for exp in range(4):
            a = compute_single_moments(sim, exp, cols, prods, treatment=False)
            b = compute_single_moments(sim, exp, cols, prods, treatment=True)
            for diff in ("absolute", "relative"):
                for sequential in (False, True):
                    cases.append(
                        {
                            "kind": kind,
                            "num": spec.numerator,
                            "den": spec.denominator,
                            "cov": spec.covariate,
                            "a": a,
                            "b": b,
                            "alpha": 0.05,
                            "difference_type": diff,
                            "sequential": sequential,
                            "tuning": 5000.0,
                            "spec": spec,
                            "metric": spec.name,
                        }
                    )
    return cases


def _ours(case: dict[str, object]) -> dict[str, object]:
    spec = case["spec"]
    assert isinstance(spec, MetricSpec)
    cuped = case["kind"] == "cuped"
    a = build_stat(spec, case["a"], with_cuped=cuped)  # type: ignore[arg-type]
    b = build_stat(spec, case["b"], with_cuped=cuped)  # type: ignore[arg-type]
    theta = None
    if cuped:
        a, b = apply_cuped(a, b)  # type: ignore[arg-type]
        theta = a.theta  # type: ignore[union-attr]
    w = compute_welch_test(a, b, alpha=0.05, relative=case["difference_type"] == "relative")
    if case["sequential"]:
        seq = compute_confidence_sequence(w, float(a.n) + float(b.n), alpha=0.05, tuning=5000.0)
        ci, p = [seq.cs_low, seq.cs_high], seq.p_value
    else:
        ci, p = [w.ci_low, w.ci_high], w.p_value
    return {"expected": w.estimate, "ci": ci, "p_value": p, "stddev": w.std_error, "theta": theta}


def test_effects_cis_pvalues_cuped_and_srm_match_gbstats(gbstats_python: Path) -> None:
    cases = _cases()
    srm_inputs = [
        {"users": [5000, 5100], "weights": [0.5, 0.5]},
        {"users": [5000, 5400], "weights": [0.5, 0.5]},
        {"users": [3000, 3100, 2000], "weights": [0.4, 0.4, 0.2]},
        {"users": [1000, 1300], "weights": [0.45, 0.55]},
    ]
    payload = {"cases": [{k: v for k, v in c.items() if k not in ("spec", "metric")} for c in cases], "srm": srm_inputs}
    proc = subprocess.run(
        [str(gbstats_python), str(DRIVER)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    theirs = json.loads(proc.stdout)
    assert len(theirs["cases"]) == len(cases) == 16 * len(SPECS)
    assert {c["metric"] for c in cases if c["kind"] == "ratio"} >= {"acceptance_rate", "car", "wcar", "pcw"}
    for case, ref in zip(cases, theirs["cases"], strict=True):
        ours = _ours(case)
        label = (case["metric"], case["kind"], case["difference_type"], case["sequential"])
        assert ref["error_message"] is None, label
        assert ours["expected"] == pytest.approx(ref["expected"], abs=TOL), label
        assert ours["stddev"] == pytest.approx(ref["stddev"], abs=TOL), label
        assert ours["ci"][0] == pytest.approx(ref["ci"][0], abs=TOL), label  # type: ignore[index]
        assert ours["ci"][1] == pytest.approx(ref["ci"][1], abs=TOL), label  # type: ignore[index]
        assert ours["p_value"] == pytest.approx(ref["p_value"], abs=TOL), label
        if case["kind"] == "cuped":
            assert ours["theta"] == pytest.approx(ref["theta"], abs=TOL), label
            assert ours["theta"] != 0  # the adjustment is really exercised
    for srm, ref_p in zip(srm_inputs, theirs["srm"], strict=True):
        assert compute_srm_p_value(srm["users"], srm["weights"]) == pytest.approx(ref_p, abs=TOL)
    # the comparison covers significant and non-significant results alike
    ps = [r["p_value"] for r in theirs["cases"]]
    assert min(ps) < 0.05 < max(ps)
