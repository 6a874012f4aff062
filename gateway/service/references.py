"""Provenance references of a past completion: from the in-memory table, else from the database.

Only the unit that received a completion may read its references; anyone else is told it does not exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.service.recent import RecentCompletions
from gateway.telemetry.repository import fetch_attributions


async def completion_references(
    recent: RecentCompletions, engine: AsyncEngine, completion_id: str, *, unit_id: str
) -> list[dict[str, Any]] | None:
    """The provenance matches of `completion_id`, or None when it is not one of `unit_id`'s completions."""
    ref = recent.get(completion_id)
    if ref is not None:
        return list(ref.attributions) if ref.unit_id == unit_id else None
    stored = await fetch_attributions(engine, completion_id)
    if stored is None or stored[0] != unit_id:
        return None
    return stored[1]
