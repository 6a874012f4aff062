"""An experiment's live report for the console, computed by the CLI's own analysis code.

`codesieve ab report --db URL --experiment NAME` and this page run the same steps: queries.fetch_summary
(SQL aggregation on PostgreSQL) -> analysis.run_report_analysis -> report.render_markdown and
render_plots. experiments.ab sits above the gateway in the package layers, so it is imported here,
lazily, and only when a report is asked for (the gateway's request path never loads it).
Blocking (SQL, statistics, matplotlib): callers run it in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

POSTGRES_ONLY_MESSAGE = (
    "the live report's SQL targets PostgreSQL; on SQLite use `codesieve telemetry export` "
    "and `codesieve ab report --events FILE.parquet`"
)


def build_report(sync_db_url: str, experiment: str) -> dict[str, Any]:
    """{"markdown", "plots", "verdicts"} of the report with the CLI's defaults, or {"error": message}."""
    try:
        from experiments.ab.analysis import AbReportConfig, run_report_analysis
        from experiments.ab.queries import build_engine, fetch_summary
        from experiments.ab.report import render_markdown, render_plots
        from experiments.ab.results import ONE_ARM_MESSAGE, UNKNOWN_EXPERIMENT_MESSAGE
    except ImportError:
        return {"error": "the live report needs the analysis extra (pip install 'codesieve[analysis]')"}
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


def markdown_to_html(markdown: str) -> str:
    """The report's Markdown as HTML (tables on; raw HTML in the source is escaped, never passed)."""
    from markdown_it import MarkdownIt

    return str(MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown))


class ReportCache:
    """Live reports computed in the background, at most one at a time per experiment.

    At 10M events the CLI's analysis takes tens of seconds (benchmarks/ab_report.py), far beyond a
    page's budget: a page answers with the last report computed (and its age), starts a fresh one
    when that is older than `max_age_s`, and without any says "computing" and reloads itself.
    """

    def __init__(self, sync_db_url: str, max_age_s: float) -> None:
        self._url = sync_db_url
        self._max_age_s = max_age_s
        self._done: dict[str, tuple[float, dict[str, Any]]] = {}
        self._running: dict[str, asyncio.Task[None]] = {}

    async def _compute(self, name: str) -> None:
        try:
            report = await asyncio.to_thread(build_report, self._url, name)
        except Exception as exc:  # noqa: BLE001 - shown on the page; the next view retries
            report = {"error": f"the report failed: {type(exc).__name__}"}
        self._done[name] = (time.monotonic(), report)

    async def get(self, name: str, wait_s: float) -> tuple[dict[str, Any] | None, float | None]:
        """(report, its age in seconds), waiting at most `wait_s` for one being computed; else (None, None)."""
        done = self._done.get(name)
        stale = done is None or time.monotonic() - done[0] > self._max_age_s
        if stale and name not in self._running:
            task = asyncio.create_task(self._compute(name))
            self._running[name] = task
            task.add_done_callback(lambda _t: self._running.pop(name, None))
        if done is None and name in self._running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._running[name]), wait_s)
            done = self._done.get(name)
        return (done[1], time.monotonic() - done[0]) if done else (None, None)
