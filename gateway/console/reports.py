"""The console's live experiment reports: computed in the background, cached, rendered as HTML.

The report itself is the A/B analysis's (experiments/ab/live_report.py, the steps of `codesieve ab
report`). The gateway does not import the analysis: the app is given a `LiveReport` callable, which
`codesieve serve` (codesieve/app.py, the layer above both packages) takes from experiments.ab.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

# The live report: (sync database URL, experiment name) -> {"markdown", "plots", "verdicts"} or {"error"}.
# Blocking; ReportCache runs it in a thread.
LiveReport = Callable[[str, str], dict[str, Any]]

NO_ANALYSIS_MESSAGE = (
    "this gateway was started without the A/B analysis: `codesieve serve` starts it with the live report"
)


def no_live_report(_sync_db_url: str, _experiment: str) -> dict[str, Any]:
    """The report of a gateway app built without one (`gateway.main.create_app` alone)."""
    return {"error": NO_ANALYSIS_MESSAGE}


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

    def __init__(self, build: LiveReport, sync_db_url: str, max_age_s: float) -> None:
        self._build = build
        self._url = sync_db_url
        self._max_age_s = max_age_s
        self._done: dict[str, tuple[float, dict[str, Any]]] = {}
        self._running: dict[str, asyncio.Task[None]] = {}

    async def _compute(self, name: str) -> None:
        try:
            report = await asyncio.to_thread(self._build, self._url, name)
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
