"""An experiment's live report for the gateway's console, by the same steps as `codesieve ab report`.

`codesieve ab report --db URL --experiment NAME` and the console's report page run the same steps:
queries.fetch_summary (SQL aggregation on PostgreSQL) -> analysis.run_report_analysis ->
report.render_markdown and render_plots, with the CLI's defaults. The gateway does not import this
module: `codesieve serve` (codesieve/app.py) hands `build_report` to the console, which calls it in a
thread (SQL, statistics and matplotlib block).
"""

from __future__ import annotations

from typing import Any

from experiments.ab.analysis import AbReportConfig, run_report_analysis
from experiments.ab.queries import build_engine, fetch_summary
from experiments.ab.report import render_markdown, render_plots
from experiments.ab.results import ONE_ARM_MESSAGE, UNKNOWN_EXPERIMENT_MESSAGE

POSTGRES_ONLY_MESSAGE = (
    "the live report's SQL targets PostgreSQL; on SQLite use `codesieve telemetry export` "
    "and `codesieve ab report --events FILE.parquet`"
)


def build_report(sync_db_url: str, experiment: str) -> dict[str, Any]:
    """{"markdown", "plots", "verdicts"} of the report with the CLI's defaults, or {"error": message}."""
    engine = build_engine(sync_db_url)
    try:
        if engine.dialect.name != "postgresql":
            return {"error": POSTGRES_ONLY_MESSAGE}
        cfg = AbReportConfig(experiment=experiment)  # the CLI's defaults
        summary = fetch_summary(engine, cfg)
    finally:
        engine.dispose()
    arms = sorted(summary.moments_by_arm)
    if not arms:
        return {"error": UNKNOWN_EXPERIMENT_MESSAGE.format(name=experiment)}
    if len(arms) < 2:
        return {"error": ONE_ARM_MESSAGE.format(name=experiment, arms=arms)}
    result = run_report_analysis(cfg, summary)
    return {
        "markdown": render_markdown(result),
        "plots": render_plots(result),
        "verdicts": [(c.treatment, c.verdict) for c in result.comparisons],
    }
