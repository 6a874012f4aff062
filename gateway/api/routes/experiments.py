"""Experiments: GET /v1/experiments (any key), POST /v1/experiments (admin keys only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from gateway.api.openapi_docs import EXPERIMENT_BODY, EXPERIMENT_RESPONSES, OBJECT_RESPONSES
from gateway.api.responses import error_response, json_response
from gateway.deps import CallerDep
from gateway.protocol.base import ErrorResponse, parse_json_body, validation_error
from gateway.protocol.experiments import ExperimentDefinition

router = APIRouter()


@router.get("/v1/experiments", responses=OBJECT_RESPONSES)
async def list_experiments(request: Request, _caller: CallerDep) -> Response:
    """Every known experiment with its arms and window, and which one is active now."""
    return json_response(await request.app.state.experiment_admin.describe())


@router.post("/v1/experiments", status_code=201, openapi_extra=EXPERIMENT_BODY, responses=EXPERIMENT_RESPONSES)
async def put_experiment(request: Request, caller: CallerDep) -> Response:
    """Create or replace an experiment (admin keys only)."""
    if not caller.is_admin:
        return error_response(ErrorResponse(403, "admin_required", "only admin keys may define experiments"))
    body = parse_json_body(await request.body())
    if isinstance(body, ErrorResponse):
        return error_response(body)
    try:
        definition = ExperimentDefinition.model_validate(body)
    except ValidationError as exc:
        return error_response(validation_error(exc))
    limit = request.app.state.settings.max_tokens_limit
    result = await request.app.state.experiment_admin.save(definition, source="api", max_tokens_limit=limit)
    return error_response(result) if isinstance(result, ErrorResponse) else json_response(result, 201)
