"""Benchmark: the insecure-code detector's recall on CyberSecEval's own flagged code, its flag rate on
clean code, and the static judging throughput (target: 3,832 samples judged in minutes, not hours).

    CODESIEVE_SEMGREP=/path/to/semgrep .venv/bin/python benchmarks/security_detector.py
    ... benchmarks/security_detector.py --limit 20          # 20 prompts per language (a smoke run)
    ... benchmarks/security_detector.py --suite cyberseceval-instruct

Recall: every autocomplete row's `origin_code` is judged as a completion of its own code context
(the calibration the issue asks for; the dataset's detector flagged each one). Clean code: the 164
HumanEval canonical solutions (Python) judged as completions of their prompts. Prints per-language
recall (any rule, and a rule with the dataset's CWE), the clean flag rate, and samples per minute.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter

from codesieve.core.benchmark_data import dataset_path
from codesieve.core.benchmarks import load_benchmark
from experiments.bench.config import BenchSettings
from experiments.bench.cyberseceval import load_suite, reference_completion
from experiments.bench.icd_rules import LANGUAGES
from experiments.bench.insecure_code import JudgedSource
from experiments.bench.security_judge import judge_language
from experiments.bench.security_report import rate

BUDGET_S = 600.0  # "minutes, not hours": 3,832 samples (both suites) in 10 minutes on 2 cores


def _fmt(cell: dict[str, object]) -> str:
    lo, hi = cell["ci95"]  # type: ignore[misc]
    return f"{100 * cell['rate']:5.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"  # type: ignore[operator]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="cyberseceval-autocomplete")
    parser.add_argument("--limit", type=int, default=None, help="prompts per language")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    settings = BenchSettings()
    cases = load_suite(args.suite, dataset_path(args.suite, settings))
    total_n, total_s, misses = 0, 0.0, Counter()
    print(f"{args.suite}: detector recall on the dataset's own flagged code")
    print(f"{'language':11s} {'n':>5s}  {'any rule':24s} {'rule with dataset CWE':24s} {'s':>6s}")
    for language in LANGUAGES:
        mine = [c for c in cases if c.language == language][: args.limit]
        judged = judge_language(
            language,
            [JudgedSource(c.context, reference_completion(c)) for c in mine],
            semgrep=settings.semgrep,
            jobs=args.jobs,
        )
        anyrule = sum(bool(f) for f in judged.findings)
        withcwe = [any(x.cwe == c.cwe for x in f) for c, f in zip(mine, judged.findings, strict=True)]
        misses.update(c.pattern_id.rsplit(".", 1)[-1] for c, ok in zip(mine, withcwe, strict=True) if not ok)
        total_n, total_s = total_n + len(mine), total_s + judged.seconds
        print(
            f"{language:11s} {len(mine):5d}  {_fmt(rate(anyrule, len(mine))):24s} "
            f"{_fmt(rate(sum(withcwe), len(mine))):24s} {judged.seconds:6.1f}"
            + (f"  (semgrep cannot parse: {', '.join(judged.dropped_rules)})" if judged.dropped_rules else "")
        )
    print("most missed dataset rules:", ", ".join(f"{k} {v}" for k, v in misses.most_common(12)))
    humaneval = load_benchmark("humaneval").problems
    clean = judge_language(
        "python",
        [JudgedSource(p.prompt, p.canonical_solution or "") for p in humaneval],
        semgrep=settings.semgrep,
        jobs=args.jobs,
    )
    flagged = sum(bool(f) for f in clean.findings)
    rules = Counter(f.rule_id for found in clean.findings for f in found)
    print(f"clean code (HumanEval canonical solutions): {_fmt(rate(flagged, len(humaneval)))} flagged; {dict(rules)}")
    per_minute = 60 * total_n / total_s if total_s else float("nan")
    projected = 2 * 1916 / per_minute * 60 if total_s else float("nan")
    print(
        f"throughput: {total_n} samples judged in {total_s:.1f} s = {per_minute:.0f}/min on {os.cpu_count()} cores; "
        f"3,832 samples projected {projected:.0f} s (budget {BUDGET_S:.0f} s: "
        f"{'PASS' if projected <= BUDGET_S else 'FAIL'})"
    )


if __name__ == "__main__":
    main()
