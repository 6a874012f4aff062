"""gateway.console.reports: the live report is a callable the app is given, computed in the background."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from gateway.console.reports import NO_ANALYSIS_MESSAGE, ReportCache, markdown_to_html, no_live_report


class _Counting:
    """A LiveReport that records its calls and can be held until released (to see "computing")."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.release = threading.Event()
        self.release.set()

    def __call__(self, sync_db_url: str, experiment: str) -> dict[str, Any]:
        self.calls.append((sync_db_url, experiment))
        self.release.wait(5)
        return {"markdown": f"# {experiment} #{len(self.calls)}"}


def test_the_given_report_is_computed_once_then_served_from_the_cache() -> None:
    build = _Counting()

    async def scenario() -> tuple[Any, Any]:
        cache = ReportCache(build, "postgresql://db", max_age_s=3600.0)
        first = await cache.get("exp", wait_s=2.0)
        second = await cache.get("exp", wait_s=2.0)
        return first, second

    (first, age1), (second, age2) = asyncio.run(scenario())
    assert first == second == {"markdown": "# exp #1"}
    assert build.calls == [("postgresql://db", "exp")]
    assert 0.0 <= age1 <= age2


def test_a_slow_report_answers_none_then_the_report() -> None:
    build = _Counting()
    build.release.clear()

    async def scenario() -> tuple[Any, Any]:
        cache = ReportCache(build, "url", max_age_s=3600.0)
        pending = await cache.get("exp", wait_s=0.05)
        build.release.set()
        done = await cache.get("exp", wait_s=2.0)
        return pending, done

    pending, done = asyncio.run(scenario())
    assert pending == (None, None)
    assert done[0] == {"markdown": "# exp #1"} and len(build.calls) == 1


def test_a_stale_report_is_recomputed_and_a_failure_is_one_message() -> None:
    build = _Counting()

    def failing(_url: str, _name: str) -> dict[str, Any]:
        raise ValueError("secret-looking detail")

    async def scenario() -> tuple[Any, Any]:
        stale = ReportCache(build, "url", max_age_s=0.0)
        await stale.get("exp", wait_s=2.0)
        await asyncio.sleep(0.01)
        await stale.get("exp", wait_s=2.0)
        broken = ReportCache(failing, "url", max_age_s=3600.0)
        return await broken.get("exp", wait_s=2.0), None

    (report, _age), _ = asyncio.run(scenario())
    assert len(build.calls) == 2
    assert report == {"error": "the report failed: ValueError"}  # the exception's text is not shown


def test_without_a_report_the_page_says_why_and_markdown_is_escaped() -> None:
    assert no_live_report("sqlite://", "exp") == {"error": NO_ANALYSIS_MESSAGE}
    html = markdown_to_html("| a |\n|---|\n| <script>x</script> |")
    assert "<table>" in html and "<script>" not in html
