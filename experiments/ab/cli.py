"""`codesieve ab report|plan`: parse options -> config -> adapter -> analysis -> rendered output.

Heavy imports (pandas, scipy, statsmodels, matplotlib, SQLAlchemy engines) stay inside commands.
Bad input exits 2 with one clear line on stderr, never a traceback.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from codesieve.cli_io import cli_error

ab_app = typer.Typer(help="A/B significance reports and experiment planning.", no_args_is_help=True)
logger = logging.getLogger(__name__)


def _parse_start(start: str | None) -> datetime | None:
    if start is None:
        return None
    try:
        parsed = datetime.fromisoformat(start)
    except ValueError as exc:
        raise cli_error(f"--start {start!r} is not an ISO date/time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _load_summary(db: str | None, events: Path | None, cfg: Any) -> Any:
    """The per-arm moments from PostgreSQL or a Parquet export; clear errors for bad sources."""
    if (db is None) == (events is None):
        raise cli_error("give exactly one of --db URL or --events FILE.parquet")
    if events is not None:
        from experiments.ab.parquet_export import ExportFormatError, load_summary

        if not events.is_file():
            raise cli_error(f"--events {str(events)!r}: no such file")
        try:
            return load_summary(events, cfg)
        except ExportFormatError as exc:
            raise cli_error(str(exc)) from exc
        except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError)
            raise cli_error(f"--events {str(events)!r} is not a readable Parquet export: {exc}") from exc
    from sqlalchemy.exc import SQLAlchemyError

    from experiments.ab.queries import build_engine, fetch_summary

    assert db is not None
    try:
        engine = build_engine(db)
        if engine.dialect.name != "postgresql":
            engine.dispose()
            raise cli_error(
                f"--db: the report's SQL targets PostgreSQL, not {engine.dialect.name}; "
                "use `codesieve telemetry export` and --events for other databases"
            )
        try:
            return fetch_summary(engine, cfg)
        finally:
            engine.dispose()
    except SQLAlchemyError as exc:
        raise cli_error(f"database query failed: {str(exc).splitlines()[0]}") from exc
    except ValueError as exc:  # a malformed URL
        raise cli_error(f"--db: {exc}") from exc


@ab_app.command("report")
def report(
    experiment: str = typer.Option(..., "--experiment", help="experiment name in the telemetry"),
    db: str | None = typer.Option(None, "--db", help="SQLAlchemy URL of the telemetry database"),
    events: Path | None = typer.Option(None, "--events", help="Parquet export (telemetry export)"),
    fmt: str = typer.Option("md", "--format", help="md | html | json"),
    output: Path | None = typer.Option(None, "--output", help="write here instead of stdout"),
    control: str | None = typer.Option(None, "--control", help="control arm (default: 'control')"),
    start: str | None = typer.Option(None, "--start", help="experiment start (ISO, UTC) for CUPED"),
    weights: str | None = typer.Option(None, "--weights", help="expected split, e.g. 50,50"),
    alpha: float = typer.Option(0.05, "--alpha", min=1e-6, max=0.5),
    correction: str = typer.Option("holm", "--correction", help="holm | fdr_bh"),
    fixed_horizon: bool = typer.Option(
        False, "--fixed-horizon", help="verdicts on fixed-horizon p-values (one look only)"
    ),
    no_cuped: bool = typer.Option(False, "--no-cuped"),
    pre_days: int = typer.Option(14, "--pre-days", min=1, help="pre-period length for CUPED"),
    sequential_tuning: float = typer.Option(
        5000.0,
        "--sequential-tuning",
        min=1.0,
        help="total units at which the confidence sequence is tightest (gbstats default 5000)",
    ),
    decision_metric: str | None = typer.Option(
        None,
        "--decision-metric",
        help="the metric the verdict comes from (default: the experiment's, else acceptance_rate)",
    ),
    secondary: str | None = typer.Option(
        None, "--secondary", help="comma-separated secondary metrics (Holm among themselves); '' for none"
    ),
    guardrails: str | None = typer.Option(None, "--guardrails", help="comma-separated guardrail metrics; '' for none"),
    no_segments: bool = typer.Option(False, "--no-segments", help="leave out the exploratory segments"),
) -> None:
    """Significance report of one experiment (SRM first, then the decision metric, secondary metrics, guardrails)."""
    if fmt not in ("md", "html", "json"):
        raise cli_error(f"--format must be md, html or json, not {fmt!r}")
    if correction not in ("holm", "fdr_bh"):
        raise cli_error(f"--correction must be holm or fdr_bh, not {correction!r}")
    parsed_weights = None
    if weights:
        try:
            parsed_weights = tuple(float(w) for w in weights.split(","))
        except ValueError as exc:
            raise cli_error(f"--weights {weights!r}: comma-separated numbers expected") from exc
        if any(w < 0 for w in parsed_weights) or sum(parsed_weights) <= 0:
            raise cli_error("--weights must be non-negative with a positive sum")
    from experiments.ab.analysis import AbReportConfig, run_report_analysis
    from experiments.ab.report import render
    from experiments.ab.results import (
        ONE_ARM_MESSAGE,
        UNKNOWN_CONTROL_MESSAGE,
        UNKNOWN_EXPERIMENT_MESSAGE,
    )

    cfg = AbReportConfig(
        experiment=experiment,
        control=control,
        alpha=alpha,
        correction=correction,  # type: ignore[arg-type]
        is_sequential=not fixed_horizon,
        weights=parsed_weights,
        enable_cuped=not no_cuped,
        start=_parse_start(start),
        pre_period_days=pre_days,
        sequential_tuning=sequential_tuning,
        metrics=_metric_roles(db, experiment, decision_metric, secondary, guardrails),
        segments=not no_segments,
    )
    summary = _load_summary(db, events, cfg)
    from experiments.ab.metrics import decision_metric as _decision

    decision = _decision(cfg.metrics)
    if decision is not None and decision.name in summary.unavailable_metrics:
        raise cli_error(f"the decision metric {decision.name!r} cannot be computed from this source; use --db")
    arms = sorted(summary.moments_by_arm)
    if not arms:
        raise cli_error(UNKNOWN_EXPERIMENT_MESSAGE.format(name=experiment))
    if len(arms) < 2:
        raise cli_error(ONE_ARM_MESSAGE.format(name=experiment, arms=arms))
    if control is not None and control not in arms:
        raise cli_error(UNKNOWN_CONTROL_MESSAGE.format(control=control, arms=arms))
    if parsed_weights is not None and len(parsed_weights) != len(arms):
        raise cli_error(f"--weights has {len(parsed_weights)} values for {len(arms)} arms {arms}")
    result = replace(run_report_analysis(cfg, summary), config={**cfg.to_dict(), "versions": _versions()})
    text = render(result, fmt)  # type: ignore[arg-type]
    _emit(text, output)
    for comp in result.comparisons:
        logger.info("experiment=%s treatment=%s verdict=%s", experiment, comp.treatment, comp.verdict)


def _names(option: str, raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    if len(names) > 50:
        raise cli_error(f"{option}: at most 50 metrics")
    return names


def _metric_roles(
    db: str | None, experiment: str, decision: str | None, secondary: str | None, guardrails: str | None
) -> Any:
    """The metrics with roles. Priority: command line -> the experiment's definition (--db) -> defaults."""
    from experiments.ab.metrics import DEFAULT_METRICS, UnknownMetricError, assign_roles

    stored: dict[str, Any] = {}
    if db is not None and (decision is None or secondary is None or guardrails is None):
        stored = _stored_roles(db, experiment)
    try:
        return assign_roles(
            DEFAULT_METRICS,
            decision=decision or stored.get("decision"),
            secondary=_names("--secondary", secondary) if secondary is not None else _tuple(stored.get("secondary")),
            guardrails=_names("--guardrails", guardrails)
            if guardrails is not None
            else _tuple(stored.get("guardrails")),
        )
    except UnknownMetricError as exc:
        raise cli_error(str(exc)) from exc


def _tuple(value: Any) -> tuple[str, ...] | None:
    return tuple(str(v) for v in value) if isinstance(value, list) else None


def _stored_roles(db: str, experiment: str) -> dict[str, Any]:
    """The `metrics` block of the stored experiment definition; {} when absent or unreadable."""
    from sqlalchemy.exc import SQLAlchemyError

    from experiments.ab.queries import build_engine, fetch_experiment_metrics

    try:
        engine = build_engine(db)
        try:
            return (fetch_experiment_metrics(engine, experiment) or {}) if engine.dialect.name == "postgresql" else {}
        finally:
            engine.dispose()
    except (SQLAlchemyError, ValueError):
        return {}  # the report's own query gives the clear error


def _versions() -> dict[str, str]:
    """Library versions embedded in every report (the numbers depend on them)."""
    from importlib import metadata

    out = {}
    for dist in ("codesieve", "numpy", "scipy", "statsmodels", "pandas", "sqlalchemy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text)
        return
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)  # never a half-written report


@ab_app.command("plan")
def plan(
    experiment: str = typer.Option(..., "--experiment", help="historical experiment whose units give the variance"),
    db: str | None = typer.Option(None, "--db"),
    events: Path | None = typer.Option(None, "--events"),
    mde: float | None = typer.Option(0.05, "--mde", help="relative lift to detect (0.05 = 5%)"),
    units_per_arm: int | None = typer.Option(None, "--units-per-arm", min=2),
    alpha: float = typer.Option(0.05, "--alpha", min=1e-6, max=0.5),
    power: float = typer.Option(0.8, "--power", min=0.05, max=0.999),
    fmt: str = typer.Option("md", "--format", help="md | json"),
    metric: str | None = typer.Option(
        None, "--metric", help="metric to plan for (default: the experiment's decision metric, else acceptance_rate)"
    ),
) -> None:
    """Units per arm (or MDE / power) for the decision metric, from historical per-unit variance."""
    if fmt not in ("md", "json"):
        raise cli_error(f"--format must be md or json, not {fmt!r}")
    if mde is not None and mde <= 0:
        raise cli_error("--mde must be > 0")
    import json

    from experiments.ab.analysis import AbReportConfig
    from experiments.ab.metrics import build_stat, decision_metric
    from experiments.ab.plan import PlanConfig, compute_plan

    primary = decision_metric(_metric_roles(db, experiment, metric, None, None))
    assert primary is not None
    cfg = AbReportConfig(experiment=experiment, enable_cuped=False, metrics=(primary,), segments=False)
    summary = _load_summary(db, events, cfg)
    if primary.name in summary.unavailable_metrics:
        raise cli_error(f"{primary.name!r} cannot be computed from this source; use --db")
    if not summary.moments_by_arm:
        raise cli_error(f"no telemetry for experiment {experiment!r}")
    keys = next(iter(summary.moments_by_arm.values())).keys()
    merged = {k: sum(m[k] for m in summary.moments_by_arm.values()) for k in keys}
    stat = build_stat(primary, merged, with_cuped=False)
    if float(stat.mean) <= 0 or float(stat.variance) <= 0:
        raise cli_error(f"history has no {primary.name} events or no variance; cannot plan")
    result = compute_plan(
        stat,
        PlanConfig(
            alpha=alpha,
            power=power,
            mde_relative=mde,  # type: ignore[arg-type]
            units_per_arm=units_per_arm,
        ),
    )
    if fmt == "json":
        typer.echo(json.dumps({"metric": primary.name, **result.to_dict()}, indent=2))
        return
    typer.echo(
        "\n".join(
            [
                f"# Plan for {primary.name} from {experiment!r} ({int(merged['n'])} historical units)",
                "",
                f"- decision metric: {primary.label}",
                f"- baseline: {result.baseline_mean:.4f}",
                f"- per-unit variance{' (delta method)' if primary.kind == 'ratio' else ''}: "
                f"{result.variance_per_unit:.5g}; "
                f"{result.events_per_unit:.1f} {primary.denominator or 'units'} per unit",
                f"- design effect vs. an event-level binomial model: {result.design_effect:.2f} "
                "(within-unit correlation)",
                f"- units per arm: {result.units_per_arm}",
                f"- MDE: {100 * result.mde_relative:.2f}% relative ({result.mde_absolute:.5f} absolute)",
                f"- power (two-sided alpha {alpha}, fixed horizon): {result.power:.3f}",
                f"- power with the report's always-valid verdicts (one look at this size): "
                f"{result.power_sequential:.3f}",
            ]
        )
    )
