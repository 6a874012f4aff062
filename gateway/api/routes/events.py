"""POST /v1/events: shown / accepted / dismissed / persisted telemetry (ours and Tabby's vocabulary)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.api.openapi_docs import EVENTS_BODY, EVENTS_RESPONSES
from gateway.api.responses import error_response, json_response
from gateway.deps import CallerDep
from gateway.protocol.base import ErrorResponse, parse_json_body
from gateway.protocol.events import parse_events

router = APIRouter()


# `select_kind` is read from the query string by hand and documented here: FastAPI's own query
# parameter parsing was ~7% of the CPU of an event post, the busiest route.
_SELECT_KIND_DOC = {
    "parameters": [
        {
            "name": "select_kind",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": ["line"]},
            "description": "Tabby: `line` marks a `select` event as a partial (line) acceptance",
        }
    ]
}


@router.post("/v1/events", status_code=202, openapi_extra=_SELECT_KIND_DOC | EVENTS_BODY, responses=EVENTS_RESPONSES)
async def post_events(request: Request, caller: CallerDep) -> Response:
    """Record one event, a list, or {"events": [...]}; all-or-nothing, idempotent per client event id."""
    body = parse_json_body(await request.body(), allow_list=True)
    if isinstance(body, ErrorResponse):
        return error_response(body)
    select_kind = request.query_params.get("select_kind") if request.scope["query_string"] else None
    events = parse_events(body, select_kind=select_kind)
    if isinstance(events, ErrorResponse):
        return error_response(events)
    result = await request.app.state.event_service.ingest(events, caller)
    return error_response(result) if isinstance(result, ErrorResponse) else json_response(result, 202)
