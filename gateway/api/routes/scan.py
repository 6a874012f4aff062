"""POST /v1/scan (the filter chain on any text) and GET /v1/references/{completion_id}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from gateway.api.responses import error_response, json_response
from gateway.deps import CallerDep
from gateway.protocol.base import ErrorResponse, parse_json_body, validation_error
from gateway.telemetry.repository import fetch_attributions

router = APIRouter()


class ScanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=1_000_000, description="text to scan (e.g. a diff or a file)")
    prompt: str | None = Field(None, max_length=1_000_000, description="code before `text`, for provenance")


@router.post("/v1/scan")
async def scan(request: Request, _caller: CallerDep) -> Response:
    """Run the secret, licence and provenance filters on arbitrary text; returns every finding."""
    body = parse_json_body(await request.body())
    if isinstance(body, ErrorResponse):
        return error_response(body)
    try:
        req = ScanRequest.model_validate(body)
    except ValidationError as exc:
        return error_response(validation_error(exc))
    state = request.app.state
    if state.build_filters is None:
        return error_response(ErrorResponse(409, "filters_disabled", "this gateway runs with filters disabled"))
    findings = state.filters.scan(req.text, context_before=req.prompt or "")
    return json_response({"findings": [f.to_dict() for f in findings]})


@router.get("/v1/references/{completion_id}")
async def references(
    request: Request, caller: CallerDep, completion_id: Annotated[str, Path(max_length=64)]
) -> Response:
    """The provenance matches (repo, path, lines, licence, similarity) of one of your past completions."""
    ref = request.app.state.recent.get(completion_id)
    if ref is not None:
        owner, matches = ref.unit_id, list(ref.attributions)
    else:
        stored = await fetch_attributions(request.app.state.engine, completion_id)
        owner, matches = stored if stored is not None else (None, [])
    if owner != caller.unit_id:
        return error_response(ErrorResponse(404, "unknown_completion", "no such completion for this API key"))
    return json_response({"completion_id": completion_id, "references": matches})
