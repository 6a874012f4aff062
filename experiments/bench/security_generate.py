"""CyberSecEval cases sent over HTTP (gateway or vLLM) the way an IDE sends them; failures are values.

Window: a prompt longer than the model's context is cut to its tail, whole lines, nearest the
cursor, as editor plugins do (Continue sizes its prompt from `/v1/models`' `max_model_len`, which
the gateway and vLLM both serve). The budget in characters is (max_model_len - max_tokens) times
CHARS_PER_TOKEN; a tokenizer is not at hand over HTTP, so when the server still answers that the
prompt is too long, the window shrinks by a quarter and the request goes again.

A case whose request fails (refused for another reason, or still failing after retries of
transient errors: 429, 5xx, timeouts) becomes a GenerationFailure and the run goes on; it is not
written to the samples file, so a rerun tries it again. An endpoint that cannot be reached, or
MAX_FAILURES_IN_A_ROW failures in a row, stop the run with an error.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from experiments.bench.cyberseceval import SecurityCase
from experiments.bench.generate import GenerationConfig, Sample, request_samples

__all__ = [
    "CHARS_PER_TOKEN",
    "MAX_FAILURES_IN_A_ROW",
    "CaseResult",
    "GenerationFailure",
    "fetch_max_model_len",
    "generate_case_samples",
    "prompt_budget_chars",
    "window_tail",
]

logger = logging.getLogger(__name__)

# Characters per token to size the window: the tiny test model's BPE (1,024 tokens) averages 1.93 on
# the autocomplete contexts and 2.55 on the instructions; larger vocabularies give more, so the
# first try rarely overshoots, and the shrink-and-retry below covers the prompts that do.
CHARS_PER_TOKEN = 1.9
_SHRINK = 0.75  # the window after a "too long" answer
_MAX_SHRINKS = 6
_TRANSIENT = {429, 500, 502, 503, 504}
_MAX_TRANSIENT_TRIES = 4
_BACKOFF_S = 1.0
# A server that refuses everything (a wrong key, a wrong model name) ends the run instead of failing
# every prompt one by one.
MAX_FAILURES_IN_A_ROW = 25


@dataclass(frozen=True)
class GenerationFailure:
    """A case the server did not complete: HTTP status and error code, never the prompt."""

    task_id: str
    reason: str


@dataclass(frozen=True)
class CaseResult:
    """The samples of one case, and how many characters of its prompt the window left out."""

    task_id: str
    samples: tuple[Sample, ...]
    cut_chars: int


def window_tail(text: str, max_chars: int) -> str:
    """The last `max_chars` characters of `text`, starting at a line start (unless one line is longer).

    Args:
        text: the prompt (code before the cursor, or an instruction).
        max_chars: the budget; `text` is returned whole when it fits.
    Returns:
        a suffix of `text` no longer than `max_chars`.
    """
    if len(text) <= max_chars:
        return text
    start = len(text) - max(max_chars, 0)
    tail = text[start:]
    if text[start - 1] == "\n":  # the window starts a line
        return tail
    newline = tail.find("\n")
    return tail[newline + 1 :] if 0 <= newline < len(tail) - 1 else tail


def prompt_budget_chars(max_model_len: int | None, max_tokens: int) -> int | None:
    """Characters of prompt that fit beside `max_tokens` in the context (None: no known limit)."""
    if max_model_len is None:
        return None
    if max_tokens >= max_model_len:
        raise ValueError(f"max_tokens {max_tokens} leaves no room for a prompt in a {max_model_len}-token context")
    return int((max_model_len - max_tokens) * CHARS_PER_TOKEN)


def fetch_max_model_len(client: httpx.Client, model: str) -> int | None:
    """`max_model_len` of `model` from the endpoint's `/v1/models` (None when not given or not listed)."""
    response = client.get("/v1/models")  # an endpoint that cannot be reached fails the run here, at once
    try:
        response.raise_for_status()
        cards = response.json().get("data", [])
    except (httpx.HTTPStatusError, ValueError, AttributeError):
        return None
    for card in cards if isinstance(cards, list) else []:
        if isinstance(card, dict) and card.get("id") == model and isinstance(card.get("max_model_len"), int):
            return int(card["max_model_len"])
    return None


def _payload(cfg: GenerationConfig, case: SecurityCase, prompt: str, n: int, seed: int) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model": cfg.model,
        "prompt": prompt,
        "n": n,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "max_tokens": cfg.max_tokens,
        "seed": seed,
    }
    if case.context:  # autocomplete: an editor names the file's language (the dataset's ids are editor ids)
        payload["language"] = case.language
    return payload


def _reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        try:
            error = exc.response.json().get("error", {})
            code = error.get("code") or error.get("type") or ""
        except (ValueError, AttributeError):
            code = ""
        return f"HTTP {exc.response.status_code} {code}".strip()
    return type(exc).__name__


def _too_long(exc: httpx.HTTPError) -> bool:
    if not isinstance(exc, httpx.HTTPStatusError) or exc.response.status_code != 400:
        return False
    text = exc.response.text.lower()
    return "context length" in text or "maximum context" in text or "too long" in text


def _transient(exc: httpx.HTTPError) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in _TRANSIENT
    return isinstance(exc, httpx.TransportError)


def _run_case(
    client: httpx.Client, cfg: GenerationConfig, case: SecurityCase, todo: list[int], budget: int | None
) -> CaseResult | GenerationFailure:
    shrinks = transient = 0
    while True:
        prompt = window_tail(case.prompt, budget) if budget is not None else case.prompt
        try:
            samples = request_samples(
                client,
                case.task_id,
                todo,
                functools.partial(_payload, cfg, case, prompt),
                lambda text: text,
                cfg.seed,
            )
            return CaseResult(case.task_id, tuple(samples), len(case.prompt) - len(prompt))
        except httpx.HTTPError as exc:
            if _too_long(exc) and shrinks < _MAX_SHRINKS and prompt:
                shrinks += 1
                budget = int(len(prompt) * _SHRINK)
            elif _transient(exc) and transient + 1 < _MAX_TRANSIENT_TRIES:
                transient += 1
                time.sleep(_BACKOFF_S * 2 ** (transient - 1))
            else:
                return GenerationFailure(case.task_id, _reason(exc))
        except (RuntimeError, ValueError) as exc:  # no choices, or a body that is not JSON
            return GenerationFailure(case.task_id, f"bad response: {type(exc).__name__}")


def generate_case_samples(
    cases: Sequence[SecurityCase], cfg: GenerationConfig, *, done: set[tuple[str, int]] | None = None
) -> Iterator[CaseResult | GenerationFailure]:
    """cfg.n samples per case (skipping pairs in `done`), one result per case as they complete.

    Args:
        cases: what to send; autocomplete cases carry their language (the gateway's stop sequences).
        cfg: endpoint, model and sampling; the context length is read from the endpoint's /v1/models.
        done: (task_id, sample_idx) pairs of an earlier, interrupted run.
    """
    done = done or set()
    headers = {"Authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {}
    work = [(c, [i for i in range(cfg.n) if (c.task_id, i) not in done]) for c in cases]
    work = [(c, todo) for c, todo in work if todo]
    with httpx.Client(base_url=cfg.endpoint, headers=headers, timeout=cfg.timeout_s) as client:
        max_model_len = fetch_max_model_len(client, cfg.model)
        budget = prompt_budget_chars(max_model_len, cfg.max_tokens)
        logger.info("context %s tokens: prompts windowed to %s characters", max_model_len, budget)
        pool = ThreadPoolExecutor(max_workers=cfg.concurrency)
        try:
            futures = [pool.submit(_run_case, client, cfg, c, todo, budget) for c, todo in work]
            in_a_row = 0
            for future in futures:
                result = future.result()
                in_a_row = in_a_row + 1 if isinstance(result, GenerationFailure) else 0
                if isinstance(result, GenerationFailure) and in_a_row >= MAX_FAILURES_IN_A_ROW:
                    raise RuntimeError(
                        f"generation stopped: {in_a_row} prompts in a row got no completion from "
                        f"{cfg.endpoint} (the last: {result.reason}); the samples so far are kept, rerun to resume"
                    )
                yield result
        finally:  # Ctrl-C or a consumer that stops early: the queued cases are not sent
            pool.shutdown(wait=True, cancel_futures=True)
