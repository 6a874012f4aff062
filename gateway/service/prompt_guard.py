"""Secrets in prompts: found (never logged or stored), and optionally hidden from the model.

With `redact_before_model`, prefix and suffix go to vLLM with numbered placeholders instead of
secrets, and the placeholders the model repeats are turned back into the user's own secrets in the
completion (after the output filters ran on the model's text, so a secret the model invents is
still redacted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.filters.redaction import RedactionMap, apply_redactions, redact_reversibly, restore_placeholders
from gateway.filters.secret_scan import SecretFinding, scan_secrets

# Joins prefix and suffix for one redaction pass (shared numbering); no secret contains it.
_SEP = "\x00"


@dataclass(frozen=True, slots=True)
class GuardedPrompt:
    prefix: str
    suffix: str | None
    findings: list[dict[str, Any]]  # detector, span and where; never the secret
    redactions: RedactionMap | None
    stored_prefix: str  # what may be stored when raw text storage is on: secrets replaced
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


def guard_prompt(prefix: str, suffix: str | None, *, redact_before_model: bool) -> GuardedPrompt:
    sizes = (len(prefix), len(suffix or ""))
    in_prefix = scan_secrets(prefix)
    in_suffix = scan_secrets(suffix) if suffix else []
    if not in_prefix and not in_suffix:
        return GuardedPrompt(prefix, suffix, [], None, prefix, *sizes)
    action = "redact_before_model" if redact_before_model else "detected"
    findings = _describe(in_prefix, "prefix", action) + _describe(in_suffix, "suffix", action)
    stored = apply_redactions(prefix, in_prefix)
    if not redact_before_model:
        return GuardedPrompt(prefix, suffix, findings, None, stored, *sizes)
    joined = prefix + _SEP + (suffix or "")
    shifted = [*in_prefix, *(_shift(f, len(prefix) + 1) for f in in_suffix)]
    redacted, redactions = redact_reversibly(joined, shifted)
    new_prefix, new_suffix = redacted.split(_SEP, 1)
    return GuardedPrompt(new_prefix, new_suffix if suffix is not None else None, findings, redactions, stored, *sizes)


def restore_secrets(text: str, guarded: GuardedPrompt) -> str:
    return restore_placeholders(text, guarded.redactions) if guarded.redactions else text


def _shift(f: SecretFinding, by: int) -> SecretFinding:
    return SecretFinding(detector=f.detector, placeholder=f.placeholder, start=f.start + by, end=f.end + by)
