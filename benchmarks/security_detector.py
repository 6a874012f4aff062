"""Benchmark: the insecure-code detector's recall on CyberSecEval's own flagged code, its flag rate on
clean code, and the static judging throughput (target: 3,832 samples judged in minutes, not hours).

    CODESIEVE_SEMGREP=/path/to/semgrep .venv/bin/python benchmarks/security_detector.py
    ... benchmarks/security_detector.py --limit 20          # 20 prompts per language (a smoke run)
    ... benchmarks/security_detector.py --suite cyberseceval-instruct

Recall: every autocomplete row's `origin_code` is judged as a completion of its own code context
(the calibration the issue asks for; the dataset's detector flagged each one). Per language: a rule
with the dataset's CWE fires, with codeshield's rules alone ("published") and with ours added
(`experiments/bench/rules/`, "with ours"), both from the same run. Clean code: the 164 HumanEval
canonical solutions judged as completions of their prompts, and 14 well-known modules of Python's
standard library (about 9,000 lines, judged whole); for C, CPython's headers (about 16,600 lines)
and the C sources of numpy's f2py runtime and wrapt (about 7,000 lines). Prints the clean flag rates
with the rules that fired, and samples judged per minute.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sysconfig
from collections import Counter
from pathlib import Path

from codesieve.core.benchmark_data import dataset_path
from codesieve.core.benchmarks import load_benchmark
from experiments.bench.config import BenchSettings
from experiments.bench.cyberseceval import load_suite, reference_completion
from experiments.bench.icd_rules import LANGUAGES, OWN_PREFIX
from experiments.bench.insecure_code import JudgedSource
from experiments.bench.security_judge import judge_language
from experiments.bench.security_report import rate

BUDGET_S = 600.0  # "minutes, not hours": 3,832 samples (both suites) in 10 minutes on 2 cores
# Clean library code: well-known, general-purpose stdlib modules (about 9,000 lines).
STDLIB_MODULES = (
    "textwrap.py",
    "csv.py",
    "heapq.py",
    "bisect.py",
    "fractions.py",
    "statistics.py",
    "shlex.py",
    "configparser.py",
    "calendar.py",
    "json/decoder.py",
    "json/encoder.py",
    "string.py",
    "pprint.py",
    "functools.py",
)


def _fmt(cell: dict[str, object]) -> str:
    lo, hi = cell["ci95"]  # type: ignore[misc]
    return f"{100 * cell['rate']:5.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"  # type: ignore[operator]


def _clean(settings: BenchSettings, jobs: int) -> None:
    """Flag rates on clean code: HumanEval's canonical solutions, and stdlib modules judged whole."""
    humaneval = load_benchmark("humaneval").problems
    clean = judge_language(
        "python",
        [JudgedSource(p.prompt, p.canonical_solution or "") for p in humaneval],
        semgrep=settings.semgrep,
        jobs=jobs,
    )
    flagged = sum(bool(f) for f in clean.findings)
    rules = Counter(f.rule_id for found in clean.findings for f in found)
    print(f"clean code (HumanEval canonical solutions): {_fmt(rate(flagged, len(humaneval)))} flagged; {dict(rules)}")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = [(stdlib / name).read_text(encoding="utf-8") for name in STDLIB_MODULES]
    lib = judge_language("python", [JudgedSource("", t) for t in texts], semgrep=settings.semgrep, jobs=jobs)
    lines = sum(t.count("\n") for t in texts)
    found = [f for fs in lib.findings for f in fs]
    per_file = ", ".join(f"{n}: {len(fs)}" for n, fs in zip(STDLIB_MODULES, lib.findings, strict=True) if fs)
    print(
        f"clean code (Python stdlib, {len(texts)} modules, {lines} lines): {sum(bool(f) for f in lib.findings)} "
        f"files flagged, {len(found)} findings = {1000 * len(found) / lines:.2f} per 1,000 lines ({per_file}); "
        f"{dict(Counter(f.rule_id for f in found))}"
    )


def _clean_c_files() -> list[Path]:
    """Well-known C that ships with this environment: CPython's own headers (always, with the
    interpreter), and the C sources of two installed packages when present (numpy's f2py runtime,
    wrapt's C extension)."""
    include = Path(sysconfig.get_paths()["include"])
    files = sorted(include.glob("*.h")) + sorted(include.glob("cpython/*.h"))
    for package, rel in (("numpy", "f2py/src/fortranobject.c"), ("wrapt", "_wrappers.c")):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin is not None and (Path(spec.origin).parent / rel).is_file():
            files.append(Path(spec.origin).parent / rel)
        else:
            print(f"clean C: {package}'s {rel} is not installed here; measured without it")
    return files


def _clean_c(settings: BenchSettings, jobs: int) -> None:
    """Flag rate of the C rules (codeshield's and ours) on clean C, files judged whole."""
    files = _clean_c_files()
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in files]
    judged = judge_language("c", [JudgedSource("", t) for t in texts], semgrep=settings.semgrep, jobs=jobs)
    lines = sum(t.count("\n") for t in texts)
    by_file: Counter[str] = Counter()
    for path, found in zip(files, judged.findings, strict=True):
        by_file[path.name] += len(found)
    total = sum(by_file.values())
    print(
        f"clean C ({len(files)} files, {lines} lines): {sum(1 for f in judged.findings if f)} files flagged, "
        f"{total} findings = {1000 * total / lines:.2f} per 1,000 lines; per file {dict(+by_file)}; "
        f"{dict(Counter(f.rule_id for fs in judged.findings for f in fs))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="cyberseceval-autocomplete")
    parser.add_argument("--limit", type=int, default=None, help="prompts per language")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    settings = BenchSettings()
    cases = load_suite(args.suite, dataset_path(args.suite, settings))
    total_n, total_s, misses = 0, 0.0, Counter()
    print(f"{args.suite}: detector recall on the dataset's own flagged code (rule with the dataset's CWE)")
    print(
        f"{'language':11s} {'n':>5s}  {'published rules':24s} {'with ours':24s} {'any rule, with ours':24s} {'s':>6s}"
    )
    all_before = all_after = 0
    for language in LANGUAGES:
        mine = [c for c in cases if c.language == language][: args.limit]
        judged = judge_language(
            language,
            [JudgedSource(c.context, reference_completion(c)) for c in mine],
            semgrep=settings.semgrep,
            jobs=args.jobs,
        )
        anyrule = sum(bool(f) for f in judged.findings)
        pairs = list(zip(mine, judged.findings, strict=True))
        after = [any(x.cwe == c.cwe for x in f) for c, f in pairs]
        before = [any(x.cwe == c.cwe and not x.rule_id.startswith(OWN_PREFIX) for x in f) for c, f in pairs]
        misses.update(
            f"{language}:{c.pattern_id.rsplit('.', 1)[-1]}" for c, ok in zip(mine, after, strict=True) if not ok
        )
        total_n, total_s = total_n + len(mine), total_s + judged.seconds
        all_before, all_after = all_before + sum(before), all_after + sum(after)
        print(
            f"{language:11s} {len(mine):5d}  {_fmt(rate(sum(before), len(mine))):24s} "
            f"{_fmt(rate(sum(after), len(mine))):24s} {_fmt(rate(anyrule, len(mine))):24s} {judged.seconds:6.1f}"
            + (f"  (semgrep cannot parse: {', '.join(judged.dropped_rules)})" if judged.dropped_rules else "")
        )
    print(f"{'all':11s} {total_n:5d}  {_fmt(rate(all_before, total_n)):24s} {_fmt(rate(all_after, total_n)):24s}")
    print("still missed (language:dataset rule):", ", ".join(f"{k} {v}" for k, v in misses.most_common(15)))
    _clean(settings, args.jobs)
    _clean_c(settings, args.jobs)
    per_minute = 60 * total_n / total_s if total_s else float("nan")
    projected = 2 * 1916 / per_minute * 60 if total_s else float("nan")
    print(
        f"throughput: {total_n} samples judged in {total_s:.1f} s = {per_minute:.0f}/min on {os.cpu_count()} cores; "
        f"3,832 samples projected {projected:.0f} s (budget {BUDGET_S:.0f} s: "
        f"{'PASS' if projected <= BUDGET_S else 'FAIL'})"
    )


if __name__ == "__main__":
    main()
