"""Completion request/response wire models: OpenAI `/v1/completions` and Tabby's `segments` shape.

Both shapes arrive at the same path. A body with `segments` is Tabby's; anything else is OpenAI's.
Top-level unknown fields are rejected (400 `unknown_field`) so a typo never silently changes
sampling; Tabby's `segments` object accepts extra fields because Tabby adds context fields between
releases. The context fields Tabby's own server reads (declarations, relevant snippets) are parsed
here and rendered into the prompt by gateway.service.tabby_context. Booleans are strict: `"yes"`
is a 400 `invalid_type`, never a silent true.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from gateway.protocol.base import ErrorResponse, validation_error

StopSpec = str | list[str] | None
# The telemetry column's size (codesieve/core/telemetry/tables.py): what the edge accepts, storage takes.
LANGUAGE_MAX_CHARS = 64
# Continue sends 12 stop strings by default; the gateway applies every stop beyond vLLM's four itself
# (gateway.service.stops), so the bound only keeps a request's per-chunk stop scan cheap.
MAX_STOPS = 64
MAX_STOP_CHARS = 256
# Context items per Tabby list; Tabby's agent sends at most a handful (its own prompt budget is 768 chars).
MAX_CONTEXT_ITEMS = 64
MAX_CONTEXT_BODY_CHARS = 64 * 1024


class CodeSnippet(BaseModel):
    """A piece of another file that Tabby's agent found relevant (a declaration or a snippet)."""

    model_config = ConfigDict(extra="allow")

    filepath: str = Field("", max_length=4096, description="path (or URI) of the file the snippet is from")
    body: str = Field(max_length=MAX_CONTEXT_BODY_CHARS, description="the snippet's code")


class Segments(BaseModel):
    model_config = ConfigDict(extra="allow")

    prefix: str = Field(description="code before the cursor")
    suffix: str | None = Field(None, description="code after the cursor (fill-in-the-middle)")
    filepath: str | None = Field(None, max_length=4096, description="path of the file being edited")
    git_url: str | None = Field(None, max_length=4096, description="remote of the repository being edited")
    declarations: list[CodeSnippet] | None = Field(
        None, max_length=MAX_CONTEXT_ITEMS, description="Tabby: declarations of symbols used near the cursor"
    )
    relevant_snippets_from_changed_files: list[CodeSnippet] | None = Field(
        None, max_length=MAX_CONTEXT_ITEMS, description="Tabby: snippets from files changed in the workspace"
    )
    relevant_snippets_from_recently_opened_files: list[CodeSnippet] | None = Field(
        None, max_length=MAX_CONTEXT_ITEMS, description="Tabby: snippets from recently opened files"
    )
    clipboard: str | None = Field(
        None, description="Tabby: clipboard text; not used for the prompt (Tabby's server does not use it either)"
    )


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
    mode: str | None = Field(
        None,
        max_length=64,
        description="Tabby's completion mode; `next_edit_suggestion` is served as a plain completion of the segments",
    )
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
    stream: StrictBool = False
    seed: int | None = None
    user: str | None = None
    language: str | None = Field(
        None, max_length=LANGUAGE_MAX_CHARS, description="codesieve: language id for stop sequences"
    )
    # Accepted for client compatibility and forwarded as is.
    presence_penalty: Annotated[float, Field(ge=-2.0, le=2.0)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2.0, le=2.0)] | None = None
    logprobs: Annotated[int, Field(ge=0, le=5)] | None = None
    echo: StrictBool = Field(False, description="prepend the prompt (as sent, with detected secrets redacted)")
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
        if len(stops) > MAX_STOPS or any(not s or len(s) > MAX_STOP_CHARS for s in stops):
            raise ValueError(f"stop takes at most {MAX_STOPS} non-empty strings of at most {MAX_STOP_CHARS} characters")
        return stops


RequestShape = Literal["openai", "tabby"]
ContextKind = Literal["declaration", "changed_file", "recent_file"]


@dataclass(frozen=True, slots=True)
class ContextSnippet:
    """One piece of Tabby context, in the priority order Tabby's server uses."""

    kind: ContextKind
    filepath: str
    body: str


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
    # max_tokens as the client asked, when it was over the limit and clamped (None otherwise)
    max_tokens_requested: int | None = None
    echo: bool = False
    context: tuple[ContextSnippet, ...] = ()  # Tabby: declarations and snippets for the prompt
    crlf: bool = False  # Tabby: the text used CRLF; normalised to LF here, restored in the answer
    mode: str | None = None  # Tabby's `mode`, reported back in x_codesieve


@dataclass(frozen=True, slots=True)
class CompletionLimits:
    max_tokens_default: int
    max_tokens_limit: int
    max_n: int
    max_prompt_chars: int
    # True: a max_tokens over the limit is a 400 (the old behaviour); False: it is clamped to the limit.
    max_tokens_strict: bool = False


# Tabby's server samples at 0.1 unless told otherwise; its plugins rarely send a temperature.
TABBY_DEFAULT_TEMPERATURE = 0.1
_PASSTHROUGH = ("presence_penalty", "frequency_penalty", "logprobs", "best_of", "logit_bias")


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n")


def _tabby(tabby: TabbyCompletionRequest, limits: CompletionLimits) -> ParsedCompletion:
    seg = tabby.segments
    crlf = "\r\n" in seg.prefix or "\r\n" in (seg.suffix or "")
    norm = _lf if crlf else (lambda t: t)
    context: list[ContextSnippet] = []
    lists: tuple[tuple[ContextKind, list[CodeSnippet] | None], ...] = (
        ("declaration", seg.declarations),
        ("changed_file", seg.relevant_snippets_from_changed_files),
        ("recent_file", seg.relevant_snippets_from_recently_opened_files),
    )
    for kind, items in lists:
        context += [ContextSnippet(kind, s.filepath, _lf(s.body)) for s in items or () if s.body.strip()]
    return ParsedCompletion(
        shape="tabby",
        model=None,
        prefix=norm(seg.prefix),
        suffix=None if seg.suffix is None else norm(seg.suffix),
        max_tokens=limits.max_tokens_default,
        temperature=TABBY_DEFAULT_TEMPERATURE if tabby.temperature is None else tabby.temperature,
        top_p=None,
        n=1,
        stop=[],
        stream=False,
        seed=tabby.seed,
        user=tabby.user,
        language=tabby.language,
        filepath=seg.filepath,
        context=tuple(context),
        crlf=crlf,
        mode=tabby.mode,
    )


def _openai(req: OpenAICompletionRequest, limits: CompletionLimits) -> ParsedCompletion:
    assert isinstance(req.prompt, str)
    passthrough = {k: getattr(req, k) for k in _PASSTHROUGH if getattr(req, k) is not None}
    return ParsedCompletion(
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
        echo=req.echo,
    )


def parse_completion(body: dict[str, Any], limits: CompletionLimits) -> ParsedCompletion | ErrorResponse:
    """Validate either request shape and apply the gateway's limits; errors are 400 values."""
    try:
        if "segments" in body:
            parsed = _tabby(TabbyCompletionRequest.model_validate(body), limits)
        else:
            parsed = _openai(OpenAICompletionRequest.model_validate(body), limits)
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
    if p.n > limits.max_n or (p.passthrough.get("best_of") or 0) > limits.max_n:
        return ErrorResponse(400, "n_too_large", f"n (and best_of) may be at most {limits.max_n}", param="n")
    if p.stream and (p.passthrough.get("best_of") or 0) > p.n:
        return ErrorResponse(400, "invalid_value", "best_of greater than n cannot be streamed", param="best_of")
    if p.max_tokens > limits.max_tokens_limit:
        if limits.max_tokens_strict:
            return ErrorResponse(
                400, "max_tokens_too_large", f"max_tokens may be at most {limits.max_tokens_limit}", param="max_tokens"
            )
        # Clients send their own large defaults (Continue: 4096); the answer says what was used.
        return replace(p, max_tokens=limits.max_tokens_limit, max_tokens_requested=p.max_tokens)
    return p
