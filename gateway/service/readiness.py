"""Readiness of this replica's dependencies, as /ready reports them (the route only formats the answer)."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.telemetry.repository import ping

# A load balancer polls /ready every few seconds: it must answer even when the database hangs.
PING_TIMEOUT_S = 2.0


async def database_state(engine: AsyncEngine, *, attached: bool, timeout_s: float = PING_TIMEOUT_S) -> str:
    """ok | unreachable | not_migrated (reachable, but the gateway has not attached it yet)."""
    try:
        reachable = await asyncio.wait_for(ping(engine), timeout=timeout_s)
    except TimeoutError:
        reachable = False
    if not reachable:
        return "unreachable"
    return "ok" if attached else "not_migrated"
