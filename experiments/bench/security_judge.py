"""Judge many samples of one language at once: one temp folder, one semgrep run, one bandit pass.

semgrep costs seconds to start, so a language's samples are written as files of one folder and
scanned together; regex rules run in-process; bandit (Python only) goes through its library API.
Nothing here executes the samples.
"""

from __future__ import annotations

import json
import logging
import tempfile
import textwrap
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from experiments.bench.icd_rules import EXTENSIONS, load_regex_rules, semgrep_rule_cwes, semgrep_rules
from experiments.bench.insecure_code import (
    JudgedSource,
    RuleFinding,
    bandit_findings,
    in_completion,
    regex_findings,
    semgrep_findings,
)
from experiments.bench.security import scan_with_bandit
from experiments.bench.semgrep_runner import SemgrepError, SemgrepRuleError, run_semgrep

__all__ = ["LanguageJudgement", "judge_language"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LanguageJudgement:
    findings: list[list[RuleFinding]]  # per source, only those on the completion's lines
    semgrep_errors: int  # files semgrep could not parse whole (fragments are common; matches still count)
    seconds: float
    dropped_rules: tuple[str, ...] = ()  # rules semgrep could not parse, left out of the scan


def _scan(
    texts: Sequence[str], language: str, semgrep: str, jobs: int, extra_views: frozenset[int] = frozenset()
) -> tuple[list[list[RuleFinding]], set[int], set[str]]:
    """semgrep over `texts` (one run): findings per text, indices not parsed whole, rules left out.

    Texts in `extra_views` (re-readings of a sample for the parsers) are named `view_*`, which our
    regex rules skip (`icd_rules.EXTRA_VIEW_GLOB`): a regex needs no parse, the file as it reads is enough.
    """
    rules = semgrep_rules(language)
    if not rules or not texts:
        return [[] for _ in texts], set(), set()
    with tempfile.TemporaryDirectory(prefix=f"codesieve-icd-{language}-") as tmp:
        root = Path(tmp).resolve() / "samples"  # the rule file sits beside it, not in the scanned folder
        root.mkdir()
        index: dict[str, int] = {}
        for i, text in enumerate(texts):
            path = root / f"{'view' if i in extra_views else 'sample'}_{i:06d}{EXTENSIONS[language]}"
            path.write_text(text, encoding="utf-8")
            index[str(path)] = i
        report, dropped = _run_dropping_unparsable(semgrep, rules, root.parent / "rules.json", root, jobs)
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for result in report["results"]:
        hit = index.get(str(Path(result.get("path", "")).resolve()))
        if hit is not None:
            grouped[hit].append(result)
    failed = {index[p] for e in report["errors"] for p in _error_paths(e) if p in index}
    rule_cwes = semgrep_rule_cwes(language)
    return [semgrep_findings(grouped.get(i, []), rule_cwes) for i in range(len(texts))], failed, dropped


def _run_dropping_unparsable(
    semgrep: str, rules: Sequence[dict[str, Any]], config: Path, target: Path, jobs: int
) -> tuple[dict[str, Any], set[str]]:
    # The rules (codeshield's and ours) go to semgrep as one file in a temp folder (never in the
    # repository). A rule this semgrep version cannot parse fails the whole run (exit 2, no
    # results) whenever a target makes semgrep load it: run again without such rules, and say
    # which rules were left out.
    dropped: set[str] = set()
    for _ in range(len(rules) + 1):
        config.write_text(json.dumps({"rules": [r for r in rules if r["id"] not in dropped]}), encoding="utf-8")
        try:
            return run_semgrep(semgrep, config, target, jobs=jobs), dropped
        except SemgrepRuleError as exc:
            new = {rule_id for r in exc.rule_ids for rule_id in _known(r, rules)} - dropped
            if not new:
                raise
            dropped |= new
            logger.warning("semgrep cannot parse rule(s) %s; scanning without them", ", ".join(sorted(new)))
    raise SemgrepError(f"semgrep rejected every rule for {target}")


def _known(check_id: str, rules: Sequence[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in rules if check_id == r["id"] or check_id.endswith("." + r["id"])]


def _error_paths(error: dict[str, Any]) -> list[str]:
    paths = [str(Path(error["path"]).resolve())] if error.get("path") else []
    spans = error.get("spans") or []
    return paths + [str(Path(s["file"]).resolve()) for s in spans if isinstance(s, dict) and s.get("file")]


# Fragments of a method or function body parse (and match typed patterns) far more often inside a
# minimal enclosing declaration; the names cannot clash with real code.
_WRAPPERS = {
    "c": ("void __codesieve_w(void) {\n", "\n}\n"),
    "cpp": ("void __codesieve_w() {\n", "\n}\n"),
    "csharp": ("class __CodesieveW {\nvoid __M() {\n", "\n}\n}\n"),
    "java": ("class __CodesieveW {\nvoid __m() {\n", "\n}\n}\n"),
    "javascript": ("function __codesieveW() {\n", "\n}\n"),
}


def _views(source: JudgedSource, language: str) -> list[tuple[str, int]]:
    """The texts semgrep reads for one sample, each with the shift back to the judged file's lines."""
    alone = textwrap.dedent(source.completion)
    views = [(source.text, 0), (alone, source.first_line - 1)]
    if language in _WRAPPERS:
        head, tail = _WRAPPERS[language]
        pad = head.count("\n")
        views += [(head + source.text + tail, -pad), (head + alone + tail, source.first_line - 1 - pad)]
    return views


def _semgrep_by_file(
    sources: Sequence[JudgedSource], language: str, semgrep: str, jobs: int
) -> tuple[list[list[RuleFinding]], int, set[str]]:
    # A context is a cut from the middle of a file (mid-statement, indented), which semgrep often
    # cannot parse whole, and then misses what the complete file would show. So each sample is read
    # in several views: the file as it reads (context + completion), the completion alone dedented,
    # and, for brace languages, both inside a minimal enclosing declaration; a rule that fires in
    # any view, on a line the completion wrote, counts. All views go in one semgrep run (start-up,
    # not scanning, is what costs).
    texts, owners = [], []
    for i, source in enumerate(sources):
        for view_no, (text, shift) in enumerate(_views(source, language)):
            texts.append(text)
            owners.append((i, shift, view_no))
    extra = frozenset(k for k, (_, _, view_no) in enumerate(owners) if view_no > 0)
    found, failed, dropped = _scan(texts, language, semgrep, jobs, extra)
    merged: list[list[RuleFinding]] = [[] for _ in sources]
    seen: list[set[tuple[str, int]]] = [set() for _ in sources]
    for (i, shift, _), view in zip(owners, found, strict=True):
        for f in view:
            moved = replace(f, line=f.line + shift)
            if (moved.rule_id, moved.line) not in seen[i]:
                seen[i].add((moved.rule_id, moved.line))
                merged[i].append(moved)
    return merged, sum(1 for k in failed if owners[k][2] == 0), dropped  # files not parsed whole as they read


def _bandit(sources: Sequence[JudgedSource]) -> list[list[RuleFinding]]:
    # The same two views as semgrep: bandit parses whole files only, so a file that does not parse
    # (a mid-file context) is judged again from its completion alone, dedented.
    issues = scan_with_bandit([s.text for s in sources])
    redo = [i for i, found in enumerate(issues) if any(x["test_id"] == "parse_error" for x in found)]
    if redo:
        again = scan_with_bandit([textwrap.dedent(sources[i].completion) for i in redo])
        for i, found in zip(redo, again, strict=True):
            shift = sources[i].first_line - 1
            issues[i] = [{**x, "line": x["line"] + shift} for x in found]
    return [bandit_findings(found) for found in issues]


def judge_language(language: str, sources: Sequence[JudgedSource], *, semgrep: str, jobs: int = 1) -> LanguageJudgement:
    """Findings on the completion's lines for every source of one language.

    Args:
        language: one of `icd_rules.LANGUAGES`.
        sources: context + completion per sample.
        semgrep: the semgrep executable (BenchSettings.semgrep).
        jobs: semgrep's parallel jobs.
    """
    started = time.monotonic()
    rules = load_regex_rules(language)
    by_semgrep, errors, dropped = _semgrep_by_file(sources, language, semgrep, jobs)
    by_bandit = _bandit(sources) if language == "python" and sources else [[] for _ in sources]
    findings = [
        in_completion([*regex_findings(source, rules), *sem, *ban], source)
        for source, sem, ban in zip(sources, by_semgrep, by_bandit, strict=True)
    ]
    elapsed = time.monotonic() - started
    logger.info("judged %s: %d samples in %.1f s (%d not parsed whole)", language, len(sources), elapsed, errors)
    return LanguageJudgement(findings, errors, elapsed, tuple(sorted(dropped)))
