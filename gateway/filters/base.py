"""Filter vocabulary: Finding, FilterResult and the FilterPolicy that turns detections into actions.

Reason codes are stable strings (`secret.aws_access_key`, `licence.gpl`, `provenance.copyleft`):
the response, the metrics and the telemetry carry them, never the detected text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

__all__ = [
    "Action",
    "FilterPolicy",
    "FilterResult",
    "Finding",
    "FindingType",
    "ProvenanceAction",
    "SecretAction",
]

FindingType = Literal["secret", "licence", "provenance"]
Action = Literal["redact", "block", "annotate"]
SecretAction = Literal["redact", "block"]
ProvenanceAction = Literal["annotate", "block"]

_ACTIONS = frozenset({"redact", "block", "annotate"})


@dataclass(frozen=True, slots=True)
class Finding:
    """One filter decision: what was found (type, reason), where, and what was done.

    `detail` holds metadata only (detector, licence family, repo/path/lines): never the secret or
    the matched text.
    """

    type: FindingType
    reason: str
    start: int
    end: int
    action: Action
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The wire/JSON shape: type, reason, start, end, action, then the detail fields."""
        return {
            "type": self.type,
            "reason": self.reason,
            "start": self.start,
            "end": self.end,
            "action": self.action,
            **dict(self.detail),
        }


@dataclass(frozen=True, slots=True)
class FilterResult:
    """A checked completion: the text to return (redacted; empty when blocked) and why."""

    text: str
    findings: list[Finding]
    is_blocked: bool


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class FilterPolicy:
    """What to do with each kind of finding.

    Lookups go family first, then category (copyleft / permissive / unknown), then `default`.
    """

    # Secrets in a completion: replace with a typed placeholder, or block the whole choice.
    secrets: SecretAction = "redact"
    # Licence text / SPDX lines in a completion, by licence family or category.
    licence_actions: Mapping[str, Action] = field(
        default_factory=lambda: _frozen({"copyleft": "block", "permissive": "annotate", "unknown": "annotate"})
    )
    # Near-verbatim matches against the reference index, by the matched file's licence.
    # Copyleft and unknown licences block by default; permissive ones annotate (attribution).
    provenance_actions: Mapping[str, ProvenanceAction] = field(
        default_factory=lambda: _frozen({"copyleft": "block", "permissive": "annotate", "unknown": "block"})
    )
    # Copilot-style threshold: a run of >= 65 lexemes, counting ~150 chars of code before it.
    min_match_lexemes: int = 65
    context_chars: int = 150
    max_provenance_matches: int = 5
    # detect-secrets detectors to run (ids from secret_scan.ALL_DETECTORS); None = the default
    # set (every credential format + keywords; entropy and public-IP detectors are opt-in).
    secret_detectors: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.secrets not in ("redact", "block"):
            raise ValueError(f"FilterPolicy.secrets must be redact|block, not {self.secrets!r}")
        for name, actions, allowed in (
            ("licence_actions", self.licence_actions, _ACTIONS - {"redact"}),
            ("provenance_actions", self.provenance_actions, frozenset({"annotate", "block"})),
        ):
            bad = {k: v for k, v in actions.items() if v not in allowed}
            if bad:
                raise ValueError(f"FilterPolicy.{name}: invalid actions {bad}")
        if self.secret_detectors is not None:
            from codesieve.core.secret_scan import ALL_DETECTORS

            unknown = set(self.secret_detectors) - ALL_DETECTORS
            if unknown:
                raise ValueError(f"FilterPolicy.secret_detectors: unknown {sorted(unknown)}")
        if self.min_match_lexemes < 1 or self.context_chars < 0:
            raise ValueError("FilterPolicy: min_match_lexemes >= 1 and context_chars >= 0")

    @staticmethod
    def _lookup(actions: Mapping[str, Any], family: str, category: str, default: str) -> Any:
        # Precedence: exact family -> category -> default.
        return actions.get(family, actions.get(category, default))

    def licence_action(self, family: str, category: str) -> Action:
        return self._lookup(self.licence_actions, family, category, "annotate")  # type: ignore[no-any-return]

    def provenance_action(self, family: str, category: str) -> ProvenanceAction:
        return self._lookup(self.provenance_actions, family, category, "block")  # type: ignore[no-any-return]
