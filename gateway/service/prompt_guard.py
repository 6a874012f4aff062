"""Secrets in prompts: found (never logged or stored), and optionally hidden from the model.

With `redact_before_model`, prefix and suffix go to vLLM with numbered placeholders instead of
secrets, and the placeholders the model repeats are turned back into the user's own secrets in the
completion (after the output filters ran on the model's text, so a secret the model invents is
still redacted).

The prefix ends at the cursor, so its last line may hold a half-typed secret that no detector
matches yet (`AWS_SECRET_ACCESS_KEY = "NwI4qYe...`): the cut-off rule of completions
(`scan_cut_off_tail`) applies to it too. Guarding a large prompt runs in a worker thread.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import anyio.to_thread

from codesieve.core.redaction import RedactionMap, apply_redactions, redact_reversibly, restore_placeholders
from codesieve.core.secret_scan import SecretFinding
from gateway.filters.chain import FilterChain

# Joins prefix and suffix for one redaction pass (shared numbering); no secret contains it.
_SEP = "\x00"
# Prompts up to this many characters are scanned on the event loop (~1 ms); larger ones in a thread
# (a hostile 64K-character prompt costs seconds of regex work, issue 13).
_INLINE_SCAN_CHARS = 8_000
# The detectors of a gateway without filters that still hides prompt secrets (`redact_before_model`).
_DEFAULT_CHAIN = FilterChain()


@dataclass(frozen=True, slots=True)
class GuardedPrompt:
    prefix: str
    suffix: str | None
    findings: list[dict[str, Any]]  # detector, span and where; never the secret
    redactions: RedactionMap | None
    stored_prefix: str  # what may be stored (or echoed) when raw text storage is on: secrets replaced
    stored_suffix: str | None
    prompt_chars: int  # sizes of what the client sent, for telemetry
    suffix_chars: int


def _describe(findings: list[SecretFinding], where: str, action: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "secret",
            "reason": f"secret.{f.detector}",
            "where": where,
            "start": f.start,
            "end": f.end,
            "action": action,
        }
        for f in findings
    ]


def guard_prompt(
    prefix: str,
    suffix: str | None,
    *,
    redact_before_model: bool,
    syntax: str | None = None,
    filters: FilterChain | None = None,
) -> GuardedPrompt:
    """Find (and with `redact_before_model` hide) the prompt's secrets with `filters`' detectors.

    `filters` is the request's filter chain (its arm's policy picks the detectors); None: the defaults.
    """
    chain = filters if filters is not None else _DEFAULT_CHAIN
    sizes = (len(prefix), len(suffix or ""))
    in_prefix = chain.prompt_secrets(prefix, syntax=syntax, cut_off=True)
    in_suffix = chain.prompt_secrets(suffix, syntax=syntax) if suffix else []
    if not in_prefix and not in_suffix:
        return GuardedPrompt(prefix, suffix, [], None, prefix, suffix, *sizes)
    action = "redact_before_model" if redact_before_model else "detected"
    findings = _describe(in_prefix, "prefix", action) + _describe(in_suffix, "suffix", action)
    stored = apply_redactions(prefix, in_prefix)
    stored_suffix = apply_redactions(suffix, in_suffix) if suffix else suffix
    if not redact_before_model:
        return GuardedPrompt(prefix, suffix, findings, None, stored, stored_suffix, *sizes)
    joined = prefix + _SEP + (suffix or "")
    shifted = [*in_prefix, *(_shift(f, len(prefix) + 1) for f in in_suffix)]
    redacted, redactions = redact_reversibly(joined, shifted)
    new_prefix, new_suffix = redacted.split(_SEP, 1)
    new_suffix_or_none = new_suffix if suffix is not None else None
    return GuardedPrompt(new_prefix, new_suffix_or_none, findings, redactions, stored, stored_suffix, *sizes)


async def guard_prompt_off_loop(
    prefix: str,
    suffix: str | None,
    *,
    redact_before_model: bool,
    syntax: str | None = None,
    filters: FilterChain | None = None,
) -> GuardedPrompt:
    """`guard_prompt`, in a worker thread when the prompt is large (so the event loop never waits on it)."""
    work = functools.partial(
        guard_prompt, prefix, suffix, redact_before_model=redact_before_model, syntax=syntax, filters=filters
    )
    if len(prefix) + len(suffix or "") <= _INLINE_SCAN_CHARS:
        return work()
    return await anyio.to_thread.run_sync(work)


def restore_secrets(text: str, guarded: GuardedPrompt) -> str:
    return restore_placeholders(text, guarded.redactions) if guarded.redactions else text


def _shift(f: SecretFinding, by: int) -> SecretFinding:
    return SecretFinding(detector=f.detector, placeholder=f.placeholder, start=f.start + by, end=f.end + by)
