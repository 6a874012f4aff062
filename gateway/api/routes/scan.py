"""POST /v1/scan (the filter chain on any text) and GET /v1/references/{completion_id}."""

from __future__ import annotations

import functools
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from gateway.api.openapi_docs import OBJECT_RESPONSES, scan_docs
from gateway.api.responses import error_response, json_response
from gateway.deps import CallerDep
from gateway.protocol.base import ErrorResponse, parse_json_body, validation_error
from gateway.service.references import completion_references

router = APIRouter()

# A scan's cost is linear in its size but hostile text costs up to ~65 us a character (issue 13:
# `"eyJ" * 40000` froze the gateway for 10 s before the detectors were bounded); 64K characters,
# the largest prompt, is a few seconds at worst, in a worker thread. Larger files are scanned in parts
# (or offline with `codesieve scan`). Up to _INLINE_SCAN_CHARS the thread hop costs more than the scan.
SCAN_MAX_CHARS = 64 * 1024
_INLINE_SCAN_CHARS = 8_000


class ScanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=SCAN_MAX_CHARS, description="text to scan (e.g. a diff or a file)")
    prompt: str | None = Field(None, max_length=SCAN_MAX_CHARS, description="code before `text`, for provenance")


_SCAN_BODY, _SCAN_RESPONSES = scan_docs(ScanRequest)


@router.post("/v1/scan", openapi_extra=_SCAN_BODY, responses=_SCAN_RESPONSES)
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
    work = functools.partial(state.filters.scan, req.text, context_before=req.prompt or "")
    if len(req.text) + len(req.prompt or "") <= _INLINE_SCAN_CHARS:
        findings = work()
    else:
        findings = await anyio.to_thread.run_sync(work)
    return json_response({"findings": [f.to_dict() for f in findings]})


@router.get("/v1/references/{completion_id}", responses=OBJECT_RESPONSES)
async def references(
    request: Request, caller: CallerDep, completion_id: Annotated[str, Path(max_length=64)]
) -> Response:
    """The provenance matches (repo, path, lines, licence, similarity) of one of your past completions."""
    state = request.app.state
    matches = await completion_references(state.recent, state.engine, completion_id, unit_id=caller.unit_id)
    if matches is None:
        return error_response(ErrorResponse(404, "unknown_completion", "no such completion for this API key"))
    return json_response({"completion_id": completion_id, "references": matches})
