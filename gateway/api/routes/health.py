"""Liveness, readiness, Prometheus metrics, and the Tabby plugin's health/settings endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from gateway.api.openapi_docs import OBJECT_RESPONSES, responses
from gateway.api.responses import json_response
from gateway.deps import CallerDep
from gateway.service.readiness import database_state

router = APIRouter()


@router.get("/health")
async def health() -> Response:
    """The gateway process is up (says nothing about vLLM or the database: see /ready)."""
    return json_response({"status": "ok"})


@router.get("/ready", responses=responses({503: {"description": "not ready (same body)"}}))
async def ready(request: Request) -> Response:
    """Can this replica serve completions (200) or not (503); `status: degraded` says what is missing.

    Only an unreachable upstream is 503: with the database down, completions are still answered and
    their telemetry journaled, so a load balancer must keep sending traffic (`degraded`). Dead
    letters (rows the database refused, kept in the spool's dead-letter file) also read `degraded`,
    until an operator moves the file away.
    """
    state = request.app.state
    upstream_ok = await state.vllm.is_healthy()
    database = await database_state(state.engine, attached=state.db_link.attached)
    dead_letters = state.writer.dead_letters.count()
    degraded = [
        r
        for r, bad in (("database_" + database, database != "ok"), ("telemetry_dead_letters", dead_letters > 0))
        if bad
    ]
    body = {
        "status": "not_ready" if not upstream_ok else "degraded" if degraded else "ready",
        "upstream": "ok" if upstream_ok else "unreachable",
        "database": database,
        "telemetry_pending_segments": state.writer.pending_segments,
        "telemetry_dead_letters": dead_letters,
        "degraded": degraded,
    }
    if state.supervisor is not None:
        body["upstream_process"] = state.supervisor.describe()
    return json_response(body, 200 if upstream_ok else 503)


@router.get("/metrics", responses={200: {"description": "Prometheus text format", "content": {"text/plain": {}}}})
async def metrics(request: Request) -> Response:
    """Prometheus exposition of this replica's counters and histograms."""
    m = request.app.state.metrics
    m.telemetry_pending.set(request.app.state.writer.pending_segments)
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1beta/server_setting", responses=OBJECT_RESPONSES)
async def server_setting(_caller: CallerDep) -> Response:
    """Tabby plugins read this: their telemetry comes here (/v1/events), not to Tabby's cloud."""
    return json_response({"disable_client_side_telemetry": True})


# The Tabby server release whose API the gateway answers, as `git_describe` reports it. Tabby's agent
# parses it as semver and skips /v1beta/server_setting below 0.9.0, so an unparseable or low version
# would leave the agent's own anonymous usage tracking (to Tabby's cloud) on.
TABBY_COMPATIBLE_VERSION = "v0.30.0"


@router.api_route("/v1/health", methods=["GET", "POST"], responses=OBJECT_RESPONSES)
async def tabby_health(request: Request, _caller: CallerDep) -> Response:
    """Tabby's server-info endpoint, which its IDE plugins call when they connect."""
    from gateway import __version__

    return json_response(
        {
            "model": request.app.state.completion_service_model,
            "device": "cpu",
            "arch": "x86_64",
            "cpu_info": "codesieve gateway",
            "cpu_count": 0,
            "cuda_devices": [],
            "version": {
                "build_date": "",
                "build_timestamp": "",
                "git_sha": "",
                "git_describe": TABBY_COMPATIBLE_VERSION,
            },
            "codesieve_version": __version__,
        }
    )
