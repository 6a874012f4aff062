"""The error envelope every non-2xx answer uses, and the error codes clients can rely on."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """A client-facing error as a value; only the router turns it into an HTTP response.

    The body follows OpenAI's shape: {"error": {"message", "type", "code", "param"}}.
    `code` is stable and machine-readable; `message` is for humans and never echoes request text
    that could hold a secret.
    """

    status: int
    code: str
    message: str
    param: str | None = None
    headers: dict[str, str] | None = None

    @property
    def type(self) -> str:
        if self.status in (401, 403):
            return "authentication_error"
        if self.status == 429:
            return "rate_limit_error"
        if self.status >= 500:
            return "upstream_error"
        return "invalid_request_error"

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": self.param}}


def parse_json_body(raw: bytes, *, allow_list: bool = False) -> Any | ErrorResponse:
    """Strict UTF-8 JSON object (or list, if allowed), or the 400 that says what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ErrorResponse(400, "invalid_utf8", f"the body is not valid UTF-8 (byte {exc.start})")
    if (too_deep := json_depth_error(raw)) is not None:
        return too_deep
    try:
        value = json.loads(text)
    except RecursionError:  # the depth check makes this unreachable; kept as the last line of defence
        return ErrorResponse(400, "json_too_deep", "the body nests JSON too deeply")
    except json.JSONDecodeError as exc:
        return ErrorResponse(
            400, "invalid_json", f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        )
    except ValueError:  # valid syntax the parser refuses: an integer of more than 4,300 digits
        return ErrorResponse(400, "invalid_json", "the body is not valid JSON: a number is too long")
    if not isinstance(value, dict) and not (allow_list and isinstance(value, list)):
        return ErrorResponse(400, "invalid_json", "the body must be a JSON object")
    return unstorable_text(value) or value


def unstorable_text(value: Any) -> ErrorResponse | None:
    """The 400 for a string (or key) holding NUL or an unpaired surrogate, else None.

    Neither is text: PostgreSQL refuses NUL in text columns, a lone surrogate cannot be encoded as
    UTF-8 (SQLite, the journal's readers, vLLM), so a record holding one could be acknowledged and
    never stored. (A valid surrogate pair escape decodes to one character and passes.)
    """
    where = _find_unstorable(value)
    if where is None:
        return None
    param = ".".join(map(str, where))[:200] or None  # the path only (keys are client text: bounded)
    return ErrorResponse(
        400,
        "invalid_text",
        f"{param or 'the body'}: strings may not contain NUL (\\u0000) or unpaired surrogates (\\ud800-\\udfff)",
        param=param,
    )


def _unstorable(s: str) -> bool:
    # memchr for NUL; an ASCII string (an O(1) flag) holds no surrogate; otherwise orjson, which
    # refuses lone surrogates, checks a 64 KB prompt in ~20 us (a regex took ~200 us, encode() ~100).
    if "\x00" in s:
        return True
    if s.isascii():
        return False
    try:
        orjson.dumps(s)
    except orjson.JSONEncodeError:
        return True
    return False


def _find_unstorable(value: Any) -> list[str | int] | None:
    # Iterative (bodies may nest deeply); each node keeps only its parent and key, so the walk stays
    # linear and the path is built once, for the string found.
    parents: list[tuple[int, str | int]] = [(-1, "")]
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, node = stack.pop()
        if isinstance(v, str):
            if _unstorable(v):
                return _path(parents, node)
        elif isinstance(v, dict):
            for k, item in v.items():
                if _unstorable(k):
                    return _path(parents, node)
                parents.append((node, k))
                stack.append((item, len(parents) - 1))
        elif isinstance(v, list):
            for i, item in enumerate(v):
                parents.append((node, i))
                stack.append((item, len(parents) - 1))
    return None


def _path(parents: list[tuple[int, str | int]], node: int) -> list[str | int]:
    out: list[str | int] = []
    while node > 0:
        node, key = parents[node]
        out.append(key)
    return out[::-1]


# No request of ours nests deeper than a few levels; json.loads recursed into a RecursionError (a 500)
# past ~1,000 (issue 13). Strings are skipped, so brackets inside them do not count.
MAX_JSON_DEPTH = 64
_JSON_NESTING_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth_error(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> ErrorResponse | None:
    """The 400 for a body whose arrays/objects nest deeper than `max_depth`, or None (linear time)."""
    if raw.count(b"[") + raw.count(b"{") <= max_depth:  # cannot be deeper: the common case, one pass in C
        return None
    depth = 0
    for token in _JSON_NESTING_TOKENS.finditer(raw):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return ErrorResponse(400, "json_too_deep", f"the body nests JSON deeper than {max_depth} levels")
        elif bracket in (b"]", b"}"):
            depth -= 1
    return None


_PYDANTIC_CODES = {
    "extra_forbidden": "unknown_field",
    "missing": "missing_field",
}


def validation_error(exc: ValidationError) -> ErrorResponse:
    """Map the first pydantic error to a 400 with a stable code and the offending field as `param`."""
    err = exc.errors(include_url=False, include_input=False)[0]
    param = ".".join(str(p) for p in err["loc"]) or None
    kind = err["type"]
    code = _PYDANTIC_CODES.get(kind, "invalid_type" if kind.endswith("_type") or "parsing" in kind else "invalid_value")
    return ErrorResponse(400, code, f"{param}: {err['msg']}" if param else err["msg"], param=param)
