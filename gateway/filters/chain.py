"""FilterChain: secrets -> licence text -> provenance over one text, with the policy's actions.

Pure and synchronous (a 40-line completion takes about a millisecond); the service calls
`check_completion` on each choice, the prompt guard `prompt_secrets` on prompts, and the scan endpoint/CLI `scan`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codesieve.core.config_secrets import config_secret_spans
from codesieve.core.licence_text import detect_licence_text, licence_category
from codesieve.core.redaction import apply_redactions
from codesieve.core.secret_scan import DEFAULT_DETECTORS, SecretFinding, scan_cut_off_tail, scan_secrets
from gateway.filters.base import FilterPolicy, FilterResult, Finding
from gateway.filters.licensed import check_provenance

if TYPE_CHECKING:  # numpy and the index engine load only where an index is used
    from codesieve.core.index import LicensedIndex

__all__ = ["FilterChain"]


def _secret_finding(f: SecretFinding, action: str, *, cut_off: bool = False) -> Finding:
    detail: dict[str, object] = {"detector": f.detector, "placeholder": f.placeholder}
    if cut_off:
        detail["cut_off"] = True  # the completion ended inside this secret (see scan_cut_off_tail)
    return Finding(
        type="secret",
        reason=f"secret.{f.detector}",
        start=f.start,
        end=f.end,
        action=action,  # type: ignore[arg-type]
        detail=detail,
    )


def _with_values_continued(raw: list[SecretFinding], text: str, syntax: str, line_before: str) -> list[SecretFinding]:
    """Add config values whose key is on the prompt's last line (`password: ` + the completion)."""
    shift = len(line_before)
    seen = set(raw)
    for start, end in config_secret_spans(line_before + text.split("\n", 1)[0], syntax):
        if end > shift:
            finding = SecretFinding("secret_keyword", "<SECRET>", max(start - shift, 0), end - shift)
            if finding not in seen:
                raw.append(finding)
    return sorted(raw, key=lambda f: (f.start, f.end))  # stable: format detectors stay first on ties


class FilterChain:
    """Runs every filter on a text and applies `policy` (see FilterPolicy)."""

    def __init__(self, policy: FilterPolicy | None = None, index: LicensedIndex | None = None) -> None:
        self.policy = policy or FilterPolicy()
        self.index = index

    @property
    def _detectors(self) -> frozenset[str]:
        chosen = self.policy.secret_detectors
        return DEFAULT_DETECTORS if chosen is None else frozenset(chosen)

    def _tail(self, text: str, complete: list[SecretFinding]) -> list[SecretFinding]:
        """Secrets the text ends inside (see scan_cut_off_tail) that no complete finding already covers."""
        seen = {(f.detector, f.start) for f in complete}
        return [f for f in scan_cut_off_tail(text, detectors=self._detectors) if (f.detector, f.start) not in seen]

    def _secrets(
        self, text: str, action: str, *, cut_off: bool = False, syntax: str | None = None, line_before: str = ""
    ) -> tuple[list[SecretFinding], list[Finding]]:
        detectors = self._detectors
        raw = scan_secrets(text, detectors=detectors, syntax=syntax)
        if syntax is not None and line_before and "secret_keyword" in detectors:
            raw = _with_values_continued(raw, text, syntax, line_before)
        findings = [_secret_finding(f, action) for f in raw]
        if cut_off:
            tail = self._tail(text, raw)
            raw += tail
            findings += [_secret_finding(f, action, cut_off=True) for f in tail]
        return raw, findings

    def _licence(self, text: str) -> list[Finding]:
        findings = []
        for f in detect_licence_text(text):
            category = licence_category(f.spdx) if f.spdx else licence_category(f.family)
            detail: dict[str, str] = {"licence_family": f.family, "kind": f.kind}
            if f.spdx:
                detail["spdx"] = f.spdx
            findings.append(
                Finding(
                    type="licence",
                    reason=f"licence.{f.family}",
                    start=f.start,
                    end=f.end,
                    action=self.policy.licence_action(f.family, category),
                    detail=detail,
                )
            )
        return findings

    def check_completion(
        self, text: str, *, context_before: str = "", cut_off: bool = False, syntax: str | None = None
    ) -> FilterResult:
        """Filter one completion: redact or block secrets, apply licence and provenance policy.

        Args:
            text: the completion.
            context_before: the code before it (the prompt prefix), for the provenance check.
            cut_off: generation stopped at max_tokens, so the text may end inside a secret.
            syntax: the file's configuration syntax (`config_secrets.config_syntax`), when it is one:
                unquoted values are then found too, including one whose key ends the prompt.
        Returns:
            FilterResult: redacted text ("" when blocked), findings sorted by span, is_blocked.
        """
        line_before = context_before[context_before.rfind("\n") + 1 :] if syntax else ""
        raw, findings = self._secrets(
            text, self.policy.secrets, cut_off=cut_off, syntax=syntax, line_before=line_before
        )
        findings += self._licence(text)
        if self.index is not None:
            findings += check_provenance(self.index, text, context_before=context_before, policy=self.policy)
        findings.sort(key=lambda f: (f.start, f.end, f.type, f.reason))
        is_blocked = any(f.action == "block" for f in findings)
        out = "" if is_blocked else apply_redactions(text, raw)
        return FilterResult(text=out, findings=findings, is_blocked=is_blocked)

    def scan(self, text: str, *, context_before: str = "", syntax: str | None = None) -> list[Finding]:
        """Every finding in `text` with the action the policy would take (scan endpoint / CLI)."""
        return self.check_completion(text, context_before=context_before, syntax=syntax).findings

    def prompt_secrets(self, text: str, *, syntax: str | None = None, cut_off: bool = False) -> list[SecretFinding]:
        """Secrets in a prompt part with the policy's detectors, sorted by span (the prompt guard redacts these).

        `cut_off`: the text ends at the cursor (a prefix), so its last line may hold a half-typed secret.
        """
        found = scan_secrets(text, detectors=self._detectors, syntax=syntax)
        tail = self._tail(text, found) if cut_off else []
        return sorted([*found, *tail], key=lambda f: (f.start, f.end, f.detector)) if tail else found

    def scan_prompt(self, text: str, *, syntax: str | None = None, cut_off: bool = False) -> list[Finding]:
        """Secrets in a prompt (prefix/suffix); always `redact` (prompts are never blocked here)."""
        return [_secret_finding(f, "redact") for f in self.prompt_secrets(text, syntax=syntax, cut_off=cut_off)]
