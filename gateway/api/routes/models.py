"""GET /v1/models: the model the gateway serves (as its upstream reports it)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.api.openapi_docs import OBJECT_RESPONSES
from gateway.api.responses import json_response
from gateway.deps import CallerDep

router = APIRouter()


@router.get("/v1/models", responses=OBJECT_RESPONSES)
async def list_models(request: Request, _caller: CallerDep) -> Response:
    """List served models in OpenAI's shape."""
    name = request.app.state.completion_service_model
    return json_response(
        {
            "object": "list",
            "data": [{"id": name, "object": "model", "created": int(time.time()), "owned_by": "codesieve"}],
        }
    )
