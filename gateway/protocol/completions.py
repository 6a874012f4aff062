"""Completion request/response wire models: OpenAI `/v1/completions` and Tabby's `segments` shape.

Both shapes arrive at the same path. A body with `segments` is Tabby's; anything else is OpenAI's.
Top-level unknown fields are rejected (400 `unknown_field`) so a typo never silently changes
sampling; Tabby's `segments` object accepts extra fields because Tabby adds context fields
(declarations, snippets, clipboard) between releases and we only read prefix/suffix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.protocol.base import ErrorResponse, validation_error

StopSpec = str | list[str] | None
# The telemetry column's size (gateway/telemetry/tables.py): what the edge accepts, storage takes.
LANGUAGE_MAX_CHARS = 64


class Segments(BaseModel):
    model_config = ConfigDict(extra="allow")

    prefix: str = Field(description="code before the cursor")
    suffix: str | None = Field(None, description="code after the cursor (fill-in-the-middle)")
    filepath: str | None = Field(None, description="path of the file being edited")
    git_url: str | None = Field(None, description="remote of the repository being edited")


class TabbyCompletionRequest(BaseModel):
    """Tabby's completion request (`POST /v1/completions` with `segments`)."""

    model_config = ConfigDict(extra="forbid")

    language: str | None = Field(
        None, max_length=LANGUAGE_MAX_CHARS, description="editor language id, e.g. python, typescript"
    )
    segments: Segments
    user: str | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = None
    seed: int | None = None
    mode: str | None = Field(None, description="Tabby's completion mode; accepted, not used")
    debug_options: dict[str, Any] | None = Field(None, description="accepted, not used")


class OpenAICompletionRequest(BaseModel):
    """OpenAI's legacy completions request, plus `language` for per-language stop sequences."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    prompt: str | list[str]
    suffix: str | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = None
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    n: Annotated[int, Field(ge=1)] = 1
    stop: StopSpec = None
    stream: bool = False
    seed: int | None = None
    user: str | None = None
    language: str | None = Field(
        None, max_length=LANGUAGE_MAX_CHARS, description="codesieve: language id for stop sequences"
    )
    # Accepted for client compatibility and forwarded as is.
    presence_penalty: Annotated[float, Field(ge=-2.0, le=2.0)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2.0, le=2.0)] | None = None
    logprobs: Annotated[int, Field(ge=0, le=5)] | None = None
    echo: bool = False
    best_of: Annotated[int, Field(ge=1)] | None = None
    logit_bias: dict[str, float] | None = None
    stream_options: dict[str, Any] | None = None

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, v: str | list[str]) -> str:
        # A completion gateway serves one cursor position per request; batching prompts would
        # make per-completion telemetry and filter attribution ambiguous.
        if isinstance(v, list):
            if len(v) != 1:
                raise ValueError("exactly one prompt per request")
            v = v[0]
        return v

    @field_validator("stop")
    @classmethod
    def _stop_list(cls, v: StopSpec) -> list[str] | None:
        if v is None:
            return None
        stops = [v] if isinstance(v, str) else v
        if len(stops) > 8 or any(not s for s in stops):
            raise ValueError("stop takes at most 8 non-empty strings")
        return stops


RequestShape = Literal["openai", "tabby"]


@dataclass(frozen=True, slots=True)
class ParsedCompletion:
    """A validated completion request in one normal form, whichever shape it arrived in."""

    shape: RequestShape
    model: str | None
    prefix: str
    suffix: str | None
    max_tokens: int
    temperature: float | None
    top_p: float | None
    n: int
    stop: list[str]
    stream: bool
    seed: int | None
    user: str | None
    language: str | None
    filepath: str | None = None
    passthrough: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CompletionLimits:
    max_tokens_default: int
    max_tokens_limit: int
    max_n: int
    max_prompt_chars: int


# Tabby's server samples at 0.1 unless told otherwise; its plugins rarely send a temperature.
TABBY_DEFAULT_TEMPERATURE = 0.1
_PASSTHROUGH = ("presence_penalty", "frequency_penalty", "logprobs", "echo", "best_of", "logit_bias")


def parse_completion(body: dict[str, Any], limits: CompletionLimits) -> ParsedCompletion | ErrorResponse:
    """Validate either request shape and apply the gateway's limits; errors are 400 values."""
    try:
        if "segments" in body:
            tabby = TabbyCompletionRequest.model_validate(body)
            parsed = ParsedCompletion(
                shape="tabby",
                model=None,
                prefix=tabby.segments.prefix,
                suffix=tabby.segments.suffix,
                max_tokens=limits.max_tokens_default,
                temperature=TABBY_DEFAULT_TEMPERATURE if tabby.temperature is None else tabby.temperature,
                top_p=None,
                n=1,
                stop=[],
                stream=False,
                seed=tabby.seed,
                user=tabby.user,
                language=tabby.language,
                filepath=tabby.segments.filepath,
            )
        else:
            req = OpenAICompletionRequest.model_validate(body)
            assert isinstance(req.prompt, str)
            passthrough = {k: getattr(req, k) for k in _PASSTHROUGH if getattr(req, k) not in (None, False)}
            parsed = ParsedCompletion(
                shape="openai",
                model=req.model,
                prefix=req.prompt,
                suffix=req.suffix,
                max_tokens=req.max_tokens or limits.max_tokens_default,
                temperature=req.temperature,
                top_p=req.top_p,
                n=req.n,
                stop=list(req.stop or []),
                stream=req.stream,
                seed=req.seed,
                user=req.user,
                language=req.language,
                passthrough=passthrough,
            )
    except ValidationError as exc:
        return validation_error(exc)
    return _check_limits(parsed, limits)


def _check_limits(p: ParsedCompletion, limits: CompletionLimits) -> ParsedCompletion | ErrorResponse:
    if not p.prefix and not p.suffix:
        field_name = "segments.prefix" if p.shape == "tabby" else "prompt"
        return ErrorResponse(400, "empty_prompt", "the prompt (prefix and suffix) is empty", param=field_name)
    if len(p.prefix) + len(p.suffix or "") > limits.max_prompt_chars:
        return ErrorResponse(
            400, "prompt_too_long", f"prefix + suffix exceed {limits.max_prompt_chars} characters", param="prompt"
        )
    if p.max_tokens > limits.max_tokens_limit:
        return ErrorResponse(
            400, "max_tokens_too_large", f"max_tokens may be at most {limits.max_tokens_limit}", param="max_tokens"
        )
    if p.n > limits.max_n or (p.passthrough.get("best_of") or 0) > limits.max_n:
        return ErrorResponse(400, "n_too_large", f"n (and best_of) may be at most {limits.max_n}", param="n")
    return p
