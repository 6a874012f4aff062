"""Provenance filter: check a completion against the loaded LicensedIndex (containment query).

Pure: the index is built and loaded elsewhere (codesieve.core.index_store via gateway.lifespan); this
module turns `LicensedIndex.query` matches into findings with the policy's action.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codesieve.core.licence_text import licence_category, licence_family
from gateway.filters.base import FilterPolicy, Finding

if TYPE_CHECKING:  # numpy and the index engine load only where an index is used
    from codesieve.core.index import LicensedIndex

__all__ = ["check_provenance"]


def check_provenance(
    index: LicensedIndex, completion: str, *, context_before: str, policy: FilterPolicy
) -> list[Finding]:
    """Provenance findings for `completion` (reason `provenance.<category>`), longest match first.

    Args:
        index: the reference index.
        completion: generated text.
        context_before: code before the completion (its last policy.context_chars are checked).
        policy: threshold, context size and per-licence actions.
    """
    findings = []
    for m in index.query(
        completion,
        context_before,
        min_match_lexemes=policy.min_match_lexemes,
        context_chars=policy.context_chars,
        max_matches=policy.max_provenance_matches,
    ):
        family, category = licence_family(m.licence), licence_category(m.licence)
        findings.append(
            Finding(
                type="provenance",
                reason=f"provenance.{category}",
                start=m.start,
                end=m.end,
                action=policy.provenance_action(family, category),
                detail={
                    "repo": m.repo,
                    "path": m.path,
                    "licence": m.licence,
                    "licence_family": family,
                    "line_start": m.line_start,
                    "line_end": m.line_end,
                    "similarity": m.similarity,
                    "matched_lexemes": m.matched_lexemes,
                },
            )
        )
    return findings
