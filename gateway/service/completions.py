"""CompletionService: render the prompt, call vLLM, filter each choice, answer, record telemetry.

No HTTP types here: the route hands in a ParsedCompletion and a Caller and gets back a response
body, an SSE iterator or an ErrorResponse.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from codesieve.core.config_secrets import config_syntax
from gateway.filters.chain import FilterChain
from gateway.metrics import GatewayMetrics
from gateway.protocol.base import ErrorResponse
from gateway.protocol.completions import ParsedCompletion
from gateway.protocol.echo import safe_echo
from gateway.service.contracts import Caller, Plan, TelemetrySink
from gateway.service.fim import FimTemplate, language_stops
from gateway.service.logprobs import LogprobTrack, unchanged_chars
from gateway.service.prompt_guard import guard_prompt_off_loop, restore_secrets
from gateway.service.recent import CompletionRef, RecentCompletions
from gateway.service.stops import UPSTREAM_MAX_STOPS, truncate_at_stop
from gateway.service.streaming import Choice, ChoiceStreams, Finish
from gateway.service.tabby_context import context_budget, render_context, select_snippets
from gateway.upstream.vllm_client import UpstreamCompletion, VllmClient

log = logging.getLogger(__name__)

# Strength order of filter actions; a completion record keeps the strongest.
_ACTION_RANK = {"none": 0, "annotated": 1, "redacted": 2, "blocked": 3}


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    model_name: str
    fim: FimTemplate
    store_raw_text: bool = False
    # Replace secrets in the prompt with numbered placeholders before vLLM sees it, and put them
    # back in the completion afterwards (after the output filters ran on the model's own text).
    redact_before_model: bool = False
    # Client model names served by `model_name` (settings.model_aliases), or every name.
    model_aliases: dict[str, str] = field(default_factory=dict)
    accept_any_model: bool = False
    max_model_len: int | None = None  # the upstream's context length (its /v1/models), when known
    tabby_context_chars: int = 768  # budget for Tabby's declarations/snippets (Tabby's own default)


class ArmResolver(Protocol):
    """Experiment assignment and per-arm resources (see gateway.service.experiment_routing)."""

    def plan(self, req: ParsedCompletion, caller: Caller, default: Plan) -> Plan: ...


class CompletionService:
    def __init__(
        self,
        cfg: ServiceConfig,
        upstream: VllmClient,
        telemetry: TelemetrySink,
        metrics: GatewayMetrics,
        filters: FilterChain | None = None,
        *,
        recent: RecentCompletions | None = None,
        arms: ArmResolver | None = None,
    ) -> None:
        self._cfg = cfg
        self._upstream = upstream
        self._telemetry = telemetry
        self._metrics = metrics
        self._filters = filters
        self._recent = recent
        self._arms = arms

    async def _plan(self, req: ParsedCompletion, caller: Caller) -> Plan:
        default = Plan(self._upstream, self._cfg.model_name, self._cfg.fim, self._filters, req)
        plan = self._arms.plan(req, caller, default) if self._arms is not None else default
        if plan.req.context:
            plan = self._with_context(plan)
        if plan.filters is None and not self._cfg.redact_before_model:
            return plan
        # The context is part of the prefix by now: a secret in a snippet is guarded like one in the prefix.
        guarded = await guard_prompt_off_loop(
            plan.req.prefix,
            plan.req.suffix,
            redact_before_model=self._cfg.redact_before_model,
            syntax=config_syntax(plan.req.filepath, plan.req.language),
            filters=plan.filters,  # the arm's policy picks the detectors for the prompt too
        )
        if plan.context_chars and guarded.findings:
            where = [dict(f, where="context") if _in_context(f, plan.context_chars) else f for f in guarded.findings]
            guarded = dataclasses.replace(guarded, findings=where)
        if guarded.redactions is not None:
            req = dataclasses.replace(plan.req, prefix=guarded.prefix, suffix=guarded.suffix)
            return dataclasses.replace(plan, req=req, prompt=guarded)
        return dataclasses.replace(plan, prompt=guarded)

    def _with_context(self, plan: Plan) -> Plan:
        """Tabby's declarations and snippets as comments before the prefix (gateway.service.tabby_context)."""
        req = plan.req
        budget = context_budget(
            self._cfg.tabby_context_chars,
            prompt_chars=len(req.prefix) + len(req.suffix or ""),
            max_model_len=self._cfg.max_model_len,
            max_tokens=req.max_tokens,
        )
        chosen = select_snippets(req.context, budget)
        block = render_context(req.language, chosen)
        if not block:
            return plan
        req = dataclasses.replace(req, prefix=block + req.prefix)
        return dataclasses.replace(plan, req=req, context_snippets=len(chosen), context_chars=len(block))

    def _restore(self, plan: Plan, choices: list[Choice]) -> None:
        # After the output filters: the user's own secrets come back where the model echoed a placeholder.
        if plan.prompt is not None and plan.prompt.redactions is not None:
            for c in choices:
                c.text = restore_secrets(c.text, plan.prompt)

    # --- request preparation
    def _check_model(self, req: ParsedCompletion) -> ErrorResponse | None:
        # Clients name the gateway's model (or an alias of it); an experiment arm may route it to another one.
        if req.model is None or self._cfg.accept_any_model:
            return None
        if self._cfg.model_aliases.get(req.model, req.model) not in (self._cfg.model_name, "*"):
            return ErrorResponse(
                404,
                "model_not_found",
                f"model {safe_echo(req.model)} is not served here; see /v1/models",
                param="model",
            )
        return None

    def _stops(self, plan: Plan) -> list[str]:
        # Priority: the client's own stops, then the language's, then the template's end tokens.
        req = plan.req
        return list(dict.fromkeys([*req.stop, *language_stops(req.language), *plan.fim.stop_tokens]))

    def _payload(self, plan: Plan) -> dict[str, Any]:
        req = plan.req
        stops = self._stops(plan)
        payload: dict[str, Any] = {
            "model": plan.model_name,
            "prompt": plan.fim.render(req.prefix, req.suffix),
            "max_tokens": req.max_tokens,
            "n": req.n,
            **req.passthrough,
        }
        # best_of is not a vLLM parameter: the gateway samples best_of choices and keeps the n most
        # likely ones (by the sum of their token log-probabilities), as OpenAI's server does.
        best_of = payload.pop("best_of", None)
        if best_of is not None and best_of > req.n and not req.stream:
            payload["n"] = best_of
            payload.setdefault("logprobs", 0)
        if stops:
            payload["stop"] = stops[:UPSTREAM_MAX_STOPS]
        for name in ("temperature", "top_p", "seed"):
            value = getattr(req, name)
            if value is not None:
                payload[name] = value
        return payload

    # --- non-streaming
    async def complete(self, req: ParsedCompletion, caller: Caller) -> dict[str, Any] | ErrorResponse:
        started = time.perf_counter()
        completion_id = f"cmpl-{uuid.uuid4().hex}"
        if (err := self._check_model(req)) is not None:
            return err
        plan = await self._plan(req, caller)
        result = await plan.upstream.complete(self._payload(plan))
        if isinstance(result, ErrorResponse):
            self._record_failure(plan, caller, completion_id, started, result)
            return result
        return self._finish_nonstream(plan, caller, completion_id, started, result)

    def _finish_nonstream(
        self, plan: Plan, caller: Caller, completion_id: str, started: float, result: UpstreamCompletion
    ) -> dict[str, Any]:
        self._metrics.upstream_latency.observe(result.latency_ms / 1000.0)
        stops = self._stops(plan)
        choices = []
        for i, c in enumerate(result.body["choices"]):
            raw = c.get("text") or ""
            text, stopped = truncate_at_stop(raw, stops)
            choice = Choice(int(c.get("index", i)), text, "stop" if stopped else c.get("finish_reason"), raw=raw)
            if "logprobs" in plan.req.passthrough or len(result.body["choices"]) > plan.req.n:
                choice.logprobs = LogprobTrack()
                choice.logprobs.add(c.get("logprobs"))
            choices.append(choice)
        choices = _best_of(plan.req, choices)
        filter_ms = self._apply_filters(plan, choices)
        self._restore(plan, choices)
        _restore_crlf(plan, choices)
        echo = _echo_text(plan)
        usage = result.body.get("usage")
        total_ms = (time.perf_counter() - started) * 1000.0
        block = self._x_codesieve(
            completion_id, plan, choices, total_ms=total_ms, upstream_ms=result.latency_ms, filter_ms=filter_ms
        )
        self._record(plan, caller, completion_id, choices, usage, total_ms, result.latency_ms)
        return {
            "id": completion_id,
            "object": "text_completion",
            "created": int(time.time()),
            "model": self._cfg.model_name,
            "choices": [
                {
                    "index": c.index,
                    "text": echo + c.text,
                    "finish_reason": c.finish_reason,
                    "logprobs": _logprobs(c, len(echo)),
                }
                for c in choices
            ],
            "usage": usage,
            "x_codesieve": block,
        }

    # --- streaming
    async def stream(self, req: ParsedCompletion, caller: Caller) -> AsyncIterator[str | ErrorResponse]:
        """SSE lines. The first item is an ErrorResponse when the request fails before any output.

        Choices are assembled by gateway.service.streaming (stops across chunks, the hold-back of
        filtered choices); the last event carries usage and the x_codesieve block.
        """
        started = time.perf_counter()
        completion_id = f"cmpl-{uuid.uuid4().hex}"
        if (err := self._check_model(req)) is not None:
            yield err
            return
        plan = await self._plan(req, caller)
        created = int(time.time())
        streams = ChoiceStreams(
            req.n, self._stops(plan), finish=self._finisher(plan), want_logprobs="logprobs" in req.passthrough
        )
        usage: dict[str, Any] | None = None
        upstream_started = time.perf_counter()
        sent_any = False
        echo = _echo_text(plan)
        payload = {**self._payload(plan), "stream_options": {"include_usage": True}}
        async for chunk in plan.upstream.stream(payload):
            if isinstance(chunk, ErrorResponse):
                self._record_failure(plan, caller, completion_id, started, chunk)
                yield _sse({"error": chunk.body()["error"]}) if sent_any else chunk
                return
            usage = chunk.get("usage") or usage
            for c in chunk.get("choices") or []:
                if (out := streams.feed(c)) is not None:
                    sent_any = True
                    yield _sse(self._chunk(completion_id, created, *out, echo))
            if streams.all_stopped():
                break  # leaving the stream aborts the upstream request
        for out in streams.drain():  # an upstream that ended without a finish_reason
            yield _sse(self._chunk(completion_id, created, *out, echo))
        upstream_ms = (time.perf_counter() - upstream_started) * 1000.0
        self._metrics.upstream_latency.observe(upstream_ms / 1000.0)
        total_ms = (time.perf_counter() - started) * 1000.0
        ordered = streams.ordered()
        block = self._x_codesieve(
            completion_id, plan, ordered, total_ms=total_ms, upstream_ms=upstream_ms, filter_ms=None
        )
        self._record(plan, caller, completion_id, ordered, usage, total_ms, upstream_ms)
        final = {
            "id": completion_id,
            "object": "text_completion",
            "created": created,
            "model": self._cfg.model_name,
            "choices": [],
            "usage": usage,
            "x_codesieve": block,
        }
        yield _sse(final)
        yield "data: [DONE]\n\n"

    def _finisher(self, plan: Plan) -> Finish | None:
        """What finishes a held-back choice: the output filters, then the prompt's placeholders restored.

        None when neither applies: the choice's text is then relayed as it arrives.
        """
        if plan.filters is None and (plan.prompt is None or plan.prompt.redactions is None):
            return None

        def finish(choice: Choice) -> None:
            self._apply_filters(plan, [choice])
            self._restore(plan, [choice])

        return finish

    def _chunk(self, cid: str, created: int, choice: Choice, text: str, echo: str) -> dict[str, Any]:
        """One SSE chunk of `choice`: `text` is its newest part (all of it released so far is `choice.text`).

        The echoed prompt goes before the choice's first text; logprobs go with the text they cover.
        """
        sent = choice.text
        first = len(sent) == len(text)
        if echo and first:
            text = echo + text
        logprobs = None
        if choice.logprobs is not None:
            keep = unchanged_chars(choice.raw, sent)
            logprobs = choice.logprobs.take(choice.raw, keep, shift=len(echo))
        return {
            "id": cid,
            "object": "text_completion",
            "created": created,
            "model": self._cfg.model_name,
            "choices": [
                {"index": choice.index, "text": text, "finish_reason": choice.finish_reason, "logprobs": logprobs}
            ],
        }

    # --- filters
    def _apply_filters(self, plan: Plan, choices: list[Choice]) -> float | None:
        if plan.filters is None:
            return None
        started = time.perf_counter()
        for choice in choices:
            # "length" (max_tokens) or no reason at all (the upstream stopped early): the text may
            # end inside a secret whose prefix no detector matches any more
            cut_off = choice.finish_reason in (None, "length")
            result = plan.filters.check_completion(
                choice.text,
                context_before=plan.req.prefix,
                cut_off=cut_off,
                syntax=config_syntax(plan.req.filepath, plan.req.language),
            )
            choice.text = result.text
            choice.filters = [f.to_dict() for f in result.findings]
            for f in result.findings:
                self._metrics.filter_actions.labels(f.action, f.reason).inc()
            if result.is_blocked:
                choice.text = ""
                choice.finish_reason = "content_filter"
        elapsed = time.perf_counter() - started
        self._metrics.filter_latency.observe(elapsed)
        return elapsed * 1000.0

    # --- response metadata and telemetry
    def _x_codesieve(
        self,
        completion_id: str,
        plan: Plan,
        choices: list[Choice],
        *,
        total_ms: float,
        upstream_ms: float,
        filter_ms: float | None,
    ) -> dict[str, Any]:
        return {
            "completion_id": completion_id,
            "model": plan.model_name,
            "request_shape": plan.req.shape,
            "fim_template": plan.fim.name if plan.req.suffix else None,
            "timings": {
                "total_ms": round(total_ms, 3),
                "upstream_ms": round(upstream_ms, 3),
                "filter_ms": None if filter_ms is None else round(filter_ms, 3),
            },
            "filters": [dict(f, choice_index=c.index) for c in choices for f in c.filters],
            "prompt_filters": plan.prompt.findings if plan.prompt is not None else [],
            "experiment": {"name": plan.experiment, "arm": plan.arm} if plan.experiment else None,
            **_compat_notes(plan),
        }

    def _record(
        self,
        plan: Plan,
        caller: Caller,
        completion_id: str,
        choices: list[Choice],
        usage: dict[str, Any] | None,
        total_ms: float,
        upstream_ms: float | None,
    ) -> None:
        req = plan.req
        actions = [f.get("action", "none") for c in choices for f in c.filters]
        strongest = max((_ACTION_NAME.get(a, "none") for a in actions), key=_ACTION_RANK.__getitem__, default="none")
        attributions = [dict(f, choice_index=c.index) for c in choices for f in c.filters if f["type"] == "provenance"]
        if self._recent is not None:
            ref = CompletionRef(
                caller.unit_id, plan.experiment, plan.arm, tuple(c.text for c in choices), tuple(attributions)
            )
            self._recent.put(completion_id, ref)
        row = self._base_row(plan, caller, completion_id, total_ms)
        row.update(
            upstream_latency_ms=upstream_ms,
            completion_chars=sum(len(c.text) for c in choices),
            prompt_tokens=_count((usage or {}).get("prompt_tokens")),
            completion_tokens=_count((usage or {}).get("completion_tokens")),
            finish_reason=_label(choices[0].finish_reason, 32) if choices else None,
            filter_action=strongest,
            filter_reasons=json.dumps(sorted({f["reason"] for c in choices for f in c.filters})) if actions else None,
            attributions=json.dumps(attributions) if attributions else None,
        )
        if self._cfg.store_raw_text:
            # Filters already redacted secrets in choice texts; the prompt is stored as sent.
            row["prompt_text"] = plan.prompt.stored_prefix if plan.prompt is not None else req.prefix
            row["completion_text"] = json.dumps([c.text for c in choices])
        self._telemetry.submit("completions", row)

    def _record_failure(
        self, plan: Plan, caller: Caller, completion_id: str, started: float, err: ErrorResponse
    ) -> None:
        self._metrics.upstream_errors.labels(err.code).inc()
        row = self._base_row(plan, caller, completion_id, (time.perf_counter() - started) * 1000.0)
        row.update(is_error=True, error_code=err.code)
        self._telemetry.submit("completions", row)

    def _base_row(self, plan: Plan, caller: Caller, completion_id: str, total_ms: float) -> dict[str, Any]:
        req = plan.req
        return {
            "id": completion_id,
            "created_at": datetime.now(UTC),
            "unit_id": caller.unit_id,
            "machine_id": caller.machine_id,
            "experiment": plan.experiment,
            "arm": plan.arm,
            "model": plan.model_name,
            "language": req.language,
            "request_shape": req.shape,
            "client": caller.client,
            "n_choices": req.n,
            "prompt_chars": plan.prompt.prompt_chars if plan.prompt is not None else len(req.prefix),
            "suffix_chars": plan.prompt.suffix_chars if plan.prompt is not None else len(req.suffix or ""),
            "latency_ms": total_ms,
            "filter_action": "none",
            "is_error": False,
        }


def _in_context(finding: dict[str, Any], context_chars: int) -> bool:
    return finding.get("where") == "prefix" and int(finding.get("start", 0)) < context_chars


def _restore_crlf(plan: Plan, choices: list[Choice]) -> None:
    # Tabby text with CRLF line ends went upstream as LF (models are trained on LF); the answer
    # goes back in the editor's line ends.
    if plan.req.crlf:
        for c in choices:
            c.text = c.text.replace("\r\n", "\n").replace("\n", "\r\n")


def _echo_text(plan: Plan) -> str:
    """What `echo` puts before each choice: the client's prompt, with the secrets the guard found redacted."""
    if not plan.req.echo:
        return ""
    if plan.prompt is not None:
        return plan.prompt.stored_prefix
    return plan.req.prefix


def _logprobs(choice: Choice, shift: int) -> dict[str, Any] | None:
    if choice.logprobs is None:
        return None
    return choice.logprobs.take(choice.raw, unchanged_chars(choice.raw, choice.text), shift=shift)


def _best_of(req: ParsedCompletion, choices: list[Choice]) -> list[Choice]:
    """The n most likely of best_of sampled choices, re-indexed 0..n-1 (see CompletionService._payload)."""
    if len(choices) <= req.n:
        return choices
    ranked = sorted(choices, key=lambda c: c.logprobs.sum_logprob() if c.logprobs else float("-inf"), reverse=True)
    kept = sorted(ranked[: req.n], key=lambda c: c.index)
    asked = "logprobs" in req.passthrough
    for i, c in enumerate(kept):
        c.index = i
        if not asked:
            c.logprobs = None
    return kept


def _compat_notes(plan: Plan) -> dict[str, Any]:
    """What the gateway did differently from what the client asked, so that the client can tell."""
    req = plan.req
    notes: dict[str, Any] = {}
    if req.max_tokens_requested is not None:
        notes["max_tokens_clamped"] = {"requested": req.max_tokens_requested, "used": req.max_tokens}
    if req.shape == "tabby":
        notes["tabby"] = {
            "context_snippets": plan.context_snippets,
            "context_chars": plan.context_chars,
            "crlf": req.crlf,
            # next_edit_suggestion is served as a plain completion of the segments (no edit history used)
            "mode": req.mode,
            "served_as": "completion",
        }
    return notes


# Finding actions (filter vocabulary) -> completion-record actions (telemetry vocabulary).
_ACTION_NAME = {"annotate": "annotated", "redact": "redacted", "block": "blocked"}


# What the upstream says goes into typed, sized columns: a value that would not fit is not stored
# (it would otherwise be refused by the database and end in the writer's dead-letter file).
def _count(v: Any) -> int | None:
    return v if type(v) is int and 0 <= v <= 2**31 - 1 else None


def _label(v: Any, max_chars: int) -> str | None:
    return v if isinstance(v, str) and len(v) <= max_chars and v.isprintable() else None


def _sse(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj, separators=(',', ':'))}\n\n"
