"""The gateway as `codesieve serve` runs it: the gateway's app with the A/B analysis's live report.

The one place that wires the two packages together: the gateway (the request path and its console)
and experiments.ab (the analysts' report) never import each other, and the console's report page runs
whatever `LiveReport` the app is given. This top layer gives it experiments.ab's, imported only when a
report is asked for, so a gateway installed without the analysis extra still starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.cli import make_serve

if TYPE_CHECKING:
    from fastapi import FastAPI

    from gateway.config import GatewaySettings

ANALYSIS_MISSING_MESSAGE = "the live report needs the analysis extra (pip install 'codesieve[analysis]')"


def live_report(sync_db_url: str, experiment: str) -> dict[str, Any]:
    """experiments.ab's live report (gateway.console.reports.LiveReport), or why it cannot run here."""
    try:
        from experiments.ab.live_report import build_report
    except ImportError:
        return {"error": ANALYSIS_MISSING_MESSAGE}
    return build_report(sync_db_url, experiment)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """gateway.main.create_app with the live report."""
    from gateway.main import create_app as create_gateway_app

    return create_gateway_app(settings, console_report=live_report)


serve = make_serve("codesieve.app:create_app")
