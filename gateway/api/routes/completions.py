"""POST /v1/completions: OpenAI and Tabby shapes, JSON or SSE."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from gateway.api.openapi_docs import COMPLETION_BODY, COMPLETION_RESPONSES
from gateway.api.responses import cancel_on_disconnect, error_response, json_response
from gateway.deps import CallerDep
from gateway.protocol.base import ErrorResponse, parse_json_body
from gateway.protocol.completions import CompletionLimits, parse_completion

router = APIRouter()


@router.post("/v1/completions", openapi_extra=COMPLETION_BODY, responses=COMPLETION_RESPONSES)
async def create_completion(request: Request, caller: CallerDep) -> Response:
    """Complete code at the cursor (OpenAI `prompt`/`suffix` or Tabby `segments`), with filters applied."""
    state = request.app.state
    service, settings = state.completion_service, state.settings
    body = parse_json_body(await request.body())
    if isinstance(body, ErrorResponse):
        return error_response(body)
    limits = CompletionLimits(
        settings.max_tokens_default,
        settings.max_tokens_limit,
        settings.max_n,
        settings.max_prompt_chars,
        settings.max_tokens_strict,
    )
    parsed = parse_completion(body, limits)
    if isinstance(parsed, ErrorResponse):
        return error_response(parsed)
    if parsed.stream:
        events = service.stream(parsed, caller)
        first = await anext(events, None)
        if isinstance(first, ErrorResponse):
            return error_response(first)
        return StreamingResponse(
            _prepend(first, events),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    result = await cancel_on_disconnect(request, service.complete(parsed, caller))
    if result is None:  # client went away; nobody is listening
        return Response(status_code=499)
    return error_response(result) if isinstance(result, ErrorResponse) else json_response(result)


async def _prepend(first, rest):  # type: ignore[no-untyped-def]
    if first is not None:
        yield first
    async for item in rest:
        if not isinstance(item, ErrorResponse):
            yield item
