"""`codesieve eval security --suite cyberseceval-*`: generate (or read) samples, judge, report.

Run folder (resumable; every file but samples.jsonl is written whole or not at all):
    config.json         the run's settings, rule-set and tool versions
    samples.jsonl       one line per completion, appended as they arrive (a rerun generates the rest)
    judged-<lang>.json  the findings of one language, with a fingerprint of the samples they judged
                        (a rerun re-judges only languages whose samples changed)
    summary.json, report.md, report.html (per-CWE chart inline)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from codesieve.core.atomic_files import write_text_atomic
from experiments.bench.cyberseceval import SUITES, SecurityCase, extract_code, load_suite
from experiments.bench.generate import GenerationConfig, Sample
from experiments.bench.icd_rules import LANGUAGES
from experiments.bench.insecure_code import JudgedSource
from experiments.bench.security_generate import GenerationFailure, generate_case_samples
from experiments.bench.security_report import render_html, render_markdown, summarize

__all__ = ["SecuritySuiteConfig", "run_security_suite"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SecuritySuiteConfig:
    suite: str  # "cyberseceval-autocomplete" | "cyberseceval-instruct"
    dataset_file: Path
    output_dir: Path
    semgrep: str = "semgrep"
    samples_file: Path | None = None  # pre-generated samples (task_id, completion)
    generation: GenerationConfig | None = None
    languages: tuple[str, ...] = LANGUAGES
    limit: int | None = None  # the first N cases per language (a smoke run)
    jobs: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))

    def to_json(self) -> dict[str, Any]:
        gen = asdict(self.generation) if self.generation else None
        if gen:
            gen.pop("api_key", None)  # never written
        return {
            "suite": self.suite,
            "dataset_file": str(self.dataset_file),
            "samples_file": str(self.samples_file) if self.samples_file else None,
            "generation": gen,
            "languages": list(self.languages),
            "limit": self.limit,
        }


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("codeshield", "bandit"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def select_cases(cfg: SecuritySuiteConfig) -> list[SecurityCase]:
    cases = load_suite(cfg.suite, cfg.dataset_file, cfg.languages)
    if cfg.limit is not None:
        per: dict[str, int] = {}
        kept = []
        for c in cases:
            per[c.language] = per.get(c.language, 0) + 1
            if per[c.language] <= cfg.limit:
                kept.append(c)
        cases = kept
    return cases


def _read_sample_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError(f"{path}:{n}: not JSON") from None
        if not isinstance(row, dict) or "task_id" not in row or not isinstance(row.get("completion"), str):
            raise ValueError(f"{path}:{n}: a sample needs task_id and a string completion")
        rows.append(row)
    return rows


def _samples_from_file(cfg: SecuritySuiteConfig, suite_ids: set[str], wanted: set[str]) -> list[Sample]:
    assert cfg.samples_file is not None
    rows = _read_sample_rows(cfg.samples_file)
    unknown = sorted({str(r["task_id"]) for r in rows} - suite_ids)
    if unknown:
        raise ValueError(f"samples for task ids not in {cfg.suite}: {', '.join(unknown[:5])}")
    seen: dict[str, int] = {}
    out = []
    for r in rows:
        tid = str(r["task_id"])
        idx = int(r.get("sample_idx", seen.get(tid, 0)))
        seen[tid] = seen.get(tid, 0) + 1
        if tid in wanted:
            out.append(Sample(tid, idx, r["completion"], bool(r.get("blocked", False))))
    return out


def _generate(cfg: SecuritySuiteConfig, cases: Sequence[SecurityCase]) -> tuple[list[Sample], dict[str, Any]]:
    """Samples of the run folder plus those generated now; and this invocation's generation record."""
    assert cfg.generation is not None
    path = cfg.output_dir / "samples.jsonl"
    rows = _read_sample_rows(path) if path.is_file() else []
    have = [Sample(str(r["task_id"]), int(r["sample_idx"]), r["completion"], bool(r.get("blocked"))) for r in rows]
    done = {(s.task_id, s.sample_idx) for s in have}
    todo = sum(cfg.generation.n for _ in cases) - len(done)
    logger.info("generating %d completions (%d already in %s)", max(todo, 0), len(done), path)
    started = time.monotonic()
    failures: list[GenerationFailure] = []
    generated = 0
    with path.open("a", encoding="utf-8") as out:
        for result in generate_case_samples(cases, cfg.generation, done=done):
            if isinstance(result, GenerationFailure):
                failures.append(result)
                continue
            for sample in result.samples:
                row = {
                    "task_id": sample.task_id,
                    "sample_idx": sample.sample_idx,
                    "completion": sample.completion,
                    "blocked": sample.blocked,
                    "prompt_cut_chars": result.cut_chars,  # left out by the context window
                    "prompt_secrets": sum(f.get("type") == "secret" for f in sample.prompt_filters),
                }
                out.write(json.dumps(row) + "\n")
                rows.append(row)
                have.append(sample)
            out.flush()
            generated += len(result.samples)
            if generated and generated % 100 < len(result.samples):
                logger.info("generated %d/%d", generated, todo)
    for f in failures:
        logger.warning("generation failed for %s: %s", f.task_id, f.reason)
    record = {
        "seconds": round(time.monotonic() - started, 2),
        "generated_now": generated,
        "errors": len(failures),
        "errors_by_reason": dict(Counter(f.reason for f in failures)),
        "error_task_ids": sorted(f.task_id for f in failures),
        "windowed": sum(1 for r in rows if r.get("prompt_cut_chars")),
        "with_prompt_secrets": sum(1 for r in rows if r.get("prompt_secrets")),
    }
    return have, record


def _fingerprint(samples: Sequence[Sample]) -> str:
    digest = hashlib.sha256()
    for s in sorted(samples, key=lambda s: (s.task_id, s.sample_idx)):
        digest.update(json.dumps([s.task_id, s.sample_idx, s.completion, s.blocked]).encode())
    return digest.hexdigest()


def _judge(
    cfg: SecuritySuiteConfig, by_id: dict[str, SecurityCase], samples: Sequence[Sample]
) -> tuple[list[dict[str, Any]], dict[str, list[str]], dict[str, float]]:
    from experiments.bench.security_judge import judge_language

    rows: list[dict[str, Any]] = []
    dropped: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    for language in cfg.languages:
        mine = [s for s in samples if by_id[s.task_id].language == language]
        path = cfg.output_dir / f"judged-{language}.json"
        fp = _fingerprint(mine)
        if path.is_file():
            cached = json.loads(path.read_text(encoding="utf-8"))
            if cached.get("fingerprint") == fp:
                logger.info("judged %s: %d samples (from %s)", language, len(mine), path.name)
                rows += cached["rows"]
                dropped[language] = cached.get("dropped_rules", [])
                seconds[language] = float(cached.get("seconds", 0.0))
                continue
        todo = [s for s in mine if not s.blocked]
        sources = [JudgedSource(by_id[s.task_id].context, extract_code(by_id[s.task_id], s.completion)) for s in todo]
        judged = judge_language(language, sources, semgrep=cfg.semgrep, jobs=cfg.jobs)
        found = {(s.task_id, s.sample_idx): f for s, f in zip(todo, judged.findings, strict=True)}
        mine_rows = [
            {
                "task_id": s.task_id,
                "sample_idx": s.sample_idx,
                "language": language,
                "cwe": by_id[s.task_id].cwe,
                "blocked": s.blocked,
                "insecure": bool(found.get((s.task_id, s.sample_idx))),
                "findings": [asdict(f) for f in found.get((s.task_id, s.sample_idx), [])],
            }
            for s in mine
        ]
        record = {"fingerprint": fp, "seconds": round(judged.seconds, 2), "dropped_rules": list(judged.dropped_rules)}
        write_text_atomic(path, json.dumps({**record, "rows": mine_rows}))
        rows += mine_rows
        dropped[language] = list(judged.dropped_rules)
        seconds[language] = round(judged.seconds, 2)
    return rows, dropped, seconds


def run_security_suite(cfg: SecuritySuiteConfig) -> dict[str, Any]:
    """Run one CyberSecEval suite end to end; returns the summary (also written to the run folder)."""
    if cfg.suite not in SUITES:
        raise ValueError(f"unknown suite {cfg.suite!r}; known: {', '.join(SUITES)}, builtin")
    if (cfg.samples_file is None) == (cfg.generation is None):
        raise ValueError("give exactly one of a samples file or a generation endpoint")
    cases = select_cases(cfg)
    if not cases:
        raise ValueError(f"no {cfg.suite} cases for languages {', '.join(cfg.languages)}")
    by_id = {c.task_id: c for c in cases}
    from experiments.bench.semgrep_runner import semgrep_version

    versions = {**_versions(), "semgrep": semgrep_version(cfg.semgrep)}  # fails early when semgrep is missing
    meta: dict[str, Any] = {"suite": cfg.suite, "config": cfg.to_json(), "versions": versions}
    write_text_atomic(cfg.output_dir / "config.json", json.dumps(meta, indent=2) + "\n")
    if cfg.samples_file is not None:
        all_ids = {c.task_id for c in load_suite(cfg.suite, cfg.dataset_file)}
        samples = _samples_from_file(cfg, all_ids, set(by_id))
        generation = None
    else:
        samples, generation = _generate(cfg, cases)
        samples = [s for s in samples if s.task_id in by_id]  # a folder may hold an earlier, wider run's
    if not samples:
        raise ValueError("no samples for the selected cases")
    rows, dropped, judge_seconds = _judge(cfg, by_id, samples)
    detector = f"Insecure Code Detector rules (codeshield {versions['codeshield']}, semgrep) + bandit for Python"
    extra = {"detector": detector, "num_cases": len(cases), "rules_semgrep_cannot_parse": dropped}
    # judging: seconds per language when it was judged (a rerun reuses unchanged languages)
    extra["judging_seconds"] = judge_seconds
    if generation is not None:
        extra["generation"] = generation
    summary = summarize(rows, {**meta, **extra})
    write_text_atomic(cfg.output_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_text_atomic(cfg.output_dir / "report.md", render_markdown(summary))
    write_text_atomic(cfg.output_dir / "report.html", render_html(summary))
    return summary
