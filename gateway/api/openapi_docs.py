"""What the OpenAPI document says about each route: request bodies and the statuses really answered.

Routes read their JSON bodies by hand (parse_json_body + the wire models: errors are 400 values,
not FastAPI's 422), so FastAPI cannot infer their bodies; they are declared here from the same
pydantic models. Every error is the ErrorResponse envelope: a `default` response says so (and
keeps FastAPI from listing a 422 that never happens). schemathesis checks the running gateway
against this document (tests/integration/gateway/test_schemathesis.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from gateway.protocol.completions import OpenAICompletionRequest, TabbyCompletionRequest
from gateway.protocol.events import CodesieveEvent, TabbyEvent
from gateway.protocol.experiments import ExperimentDefinition

ERROR_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "code": {"type": "string"},
                "param": {"type": ["string", "null"]},
            },
        }
    },
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its `$defs` references resolved in place (no cycles in ours)."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(dict(defs[ref.rsplit("/", 1)[1]]))
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return _inline(model.model_json_schema())


def responses(ok: dict[int | str, dict[str, Any]] | None = None) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: its success statuses, and the error envelope for every other one."""
    out: dict[int | str, dict[str, Any]] = dict(ok or {})
    out["default"] = {
        "description": "an error: the JSON envelope, with a stable `code`",
        "content": _json(ERROR_ENVELOPE),
    }
    return out


def request_body(*schemas: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra=` declaring a required JSON body that matches one of `schemas`."""
    schema = schemas[0] if len(schemas) == 1 else {"anyOf": list(schemas)}
    return {"requestBody": {"required": True, "content": _json(schema)}}


_OBJECT = {"type": "object"}

COMPLETION_BODY = request_body(_schema(OpenAICompletionRequest), _schema(TabbyCompletionRequest))
COMPLETION_RESPONSES = responses(
    {
        200: {
            "description": "the completion (OpenAI shape plus `x_codesieve`), or with `stream` its SSE events",
            "content": {
                "application/json": {"schema": {"type": "object", "required": ["id", "object", "choices"]}},
                # One schema per server-sent event (what schemathesis checks each event against):
                # `data` is a JSON chunk, or `[DONE]` last.
                "text/event-stream": {
                    "schema": {
                        "type": "object",
                        "required": ["data"],
                        "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
                    }
                },
            },
        }
    }
)

_EVENT = {"anyOf": [_schema(CodesieveEvent), _schema(TabbyEvent)]}
EVENTS_BODY = request_body(
    _EVENT,
    {"type": "array", "items": _EVENT},
    {"type": "object", "required": ["events"], "properties": {"events": {"type": "array", "items": _EVENT}}},
)
EVENTS_RESPONSES = responses(
    {
        202: {
            "description": "every event accepted (journaled)",
            "content": _json(
                {"type": "object", "required": ["accepted"], "properties": {"accepted": {"type": "integer"}}}
            ),
        }
    }
)

EXPERIMENT_BODY = request_body(_schema(ExperimentDefinition))
EXPERIMENT_RESPONSES = responses({201: {"description": "the stored definition", "content": _json(_OBJECT)}})


def scan_docs(model: type[BaseModel]) -> tuple[dict[str, Any], dict[int | str, dict[str, Any]]]:
    findings = {"type": "object", "required": ["findings"], "properties": {"findings": {"type": "array"}}}
    return request_body(_schema(model)), responses({200: {"description": "every finding", "content": _json(findings)}})


OBJECT_RESPONSES = responses({200: {"description": "OK", "content": _json(_OBJECT)}})
