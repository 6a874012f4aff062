"""GET /v1/models (and /v1/models/, /v1/models/{id}): the served model as its upstream reports it.

The entries are vLLM's own model cards (fetched once at start-up), so clients that read vLLM's
fields get them: Continue's vllm provider sizes its context from `max_model_len`. Each configured
alias (settings.model_aliases; "*" names the served model) is listed as a card of its own whose
`root` is the served model.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.api.openapi_docs import OBJECT_RESPONSES
from gateway.api.responses import error_response, json_response
from gateway.deps import CallerDep
from gateway.protocol.base import ErrorResponse

router = APIRouter()


def model_cards(state: Any) -> list[dict[str, Any]]:
    """The served model's card (the upstream's, when it sent one) followed by one card per alias."""
    name = state.completion_service_model
    upstream = next((c for c in getattr(state, "upstream_models", []) if c.get("id") == name), None)
    card = dict(upstream) if upstream is not None else {"id": name, "created": int(time.time()), "root": name}
    card.update(object="model", owned_by="codesieve")
    aliases = [
        {**card, "id": alias, "root": name, "parent": name}
        for alias, target in state.settings.model_aliases.items()
        if target in (name, "*") and alias != name
    ]
    return [card, *aliases]


@router.get("/v1/models", responses=OBJECT_RESPONSES)
async def list_models(request: Request, _caller: CallerDep) -> Response:
    """List served models (and their aliases) in OpenAI's shape, with vLLM's fields such as max_model_len."""
    return json_response({"object": "list", "data": model_cards(request.app.state)})


# Some clients append a slash: answered here, not with a 307 (a round trip, and some HTTP clients drop
# the Authorization header when they follow a redirect).
router.add_api_route("/v1/models/", list_models, methods=["GET"], include_in_schema=False)


@router.get("/v1/models/{model_id:path}", responses=OBJECT_RESPONSES)
async def retrieve_model(request: Request, _caller: CallerDep, model_id: str) -> Response:
    """One model card by name (an alias included)."""
    card = next((c for c in model_cards(request.app.state) if c["id"] == model_id), None)
    if card is None:
        return error_response(ErrorResponse(404, "model_not_found", "no such model; see /v1/models", param="model"))
    return json_response(card)
