"""`codesieve eval ...`: run, security, contamination, compare, repo, data; parse options, call, write outputs."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import typer

from codesieve.cli_io import cli_error
from codesieve.core.atomic_files import write_text_atomic
from experiments.bench.cli_runs import generation_config, remove_if_unused, run_or_fail
from experiments.bench.data_cli import data_app
from experiments.bench.repo_cli import repo_app

__all__ = ["eval_app"]

logger = logging.getLogger(__name__)
eval_app = typer.Typer(
    help="Offline benchmarks: pass@k in a sandbox, security, contamination, comparison.", no_args_is_help=True
)
eval_app.add_typer(data_app, name="data")
eval_app.add_typer(repo_app, name="repo")


@eval_app.command("run")
def run(
    benchmark: str = typer.Option(
        ..., help="humaneval | humaneval+ | humaneval+-mini | mbpp | humaneval-<lang> | path to a JSONL file"
    ),
    output: Path = typer.Option(..., "--output", help="run directory (resumed when it exists)"),
    samples: Path | None = typer.Option(None, help="pre-generated samples: JSONL of task_id/completion"),
    endpoint: str | None = typer.Option(None, help="gateway or vLLM base URL (OpenAI /v1/completions)"),
    model: str | None = typer.Option(None, help="model name to request"),
    n: int = typer.Option(1, "-n", help="samples per problem"),
    temperature: float = typer.Option(0.2),
    top_p: float = typer.Option(0.95),
    max_tokens: int = typer.Option(512),
    seed: int = typer.Option(1234),
    api_key: str | None = typer.Option(None, help="bearer token for the gateway (not stored)"),
    workers: int | None = typer.Option(None, min=1, help="parallel sandboxes (default: CPU cores)"),
    timeout: float = typer.Option(10.0, min=0.1, max=3600.0, help="wall-clock seconds per sample"),
    data_dir: Path | None = typer.Option(
        None, help="benchmark files in the mirror layout (default: CODESIEVE_BENCHMARK_MIRROR, else the data directory)"
    ),
    limit: int | None = typer.Option(None, help="only the first N problems"),
    details: bool = typer.Option(
        False, "--details", help="HumanEval+: run every input and list every failing one (default: stop at the first)"
    ),
    strict_protocol: bool = typer.Option(
        False, "--strict-protocol", help="refuse sampling that cannot estimate what is reported (n < k, temperature)"
    ),
    plus: bool = typer.Option(
        False, "--plus", help="also judge on type-aware mutants of the base inputs (computed once, cached)"
    ),
    tests: Path | None = typer.Option(None, "--tests", help="judge with this `codesieve eval augment` file"),
    augment_seed: int = typer.Option(0, help="--plus: the mutation seed"),
    augment_inputs: int = typer.Option(100, min=1, max=10_000, help="--plus: extra inputs per task (at most)"),
) -> None:
    """Generate (or read) samples, judge them in the sandbox, write results and pass@k."""

    from codesieve.cli_io import OutputError, prepare_output_dir
    from experiments.bench.augment_reference import AugmentConfig
    from experiments.bench.run import BenchConfig, run_eval

    if (samples is None) == (endpoint is None):
        raise cli_error("give exactly one of --samples FILE or --endpoint URL --model NAME")
    if samples is not None and not samples.is_file():
        raise cli_error(f"samples file not found: {samples}")
    if plus and tests is not None:
        raise cli_error("give at most one of --plus or --tests FILE")
    if tests is not None and not tests.is_file():
        raise cli_error(f"tests file not found: {tests}")
    gen = generation_config(endpoint, model, n, temperature, top_p, max_tokens, seed, api_key)
    if gen is not None:
        from experiments.bench.protocol import protocol_warnings

        warnings = protocol_warnings(gen.n, gen.temperature)
        if warnings and strict_protocol:
            raise cli_error("; ".join(warnings) + " (--strict-protocol)")
        for warning in warnings:
            typer.echo(f"warning: {warning}", err=True)
    try:
        created = prepare_output_dir(output)
    except OutputError as exc:
        raise cli_error(str(exc)) from None
    cfg = BenchConfig(
        benchmark=benchmark,
        output_dir=output,
        samples_file=samples,
        generation=gen,
        timeout_s=timeout,
        data_dir=data_dir,
        limit=limit,
        details=details,
        augment=AugmentConfig(seed=augment_seed, num_inputs=augment_inputs) if plus else None,
        tests_file=tests,
        workers=workers or os.cpu_count() or 1,
    )
    summary = run_or_fail(lambda: run_eval(cfg), output=output, created=created, endpoint=endpoint)
    typer.echo(
        json.dumps(
            {
                "benchmark": summary["benchmark"]["name"],
                **summary["pass_at_k"],
                **({"base": summary["pass_at_k_base"]} if "pass_at_k_base" in summary else {}),
                **({"quick_signal": summary["quick_signal"]} if summary.get("quick_signal") else {}),
                "samples": summary["num_samples"],
                "output": str(output),
            }
        )
    )


@eval_app.command("augment")
def augment(
    benchmark: str = typer.Option(..., help="mbpp | humaneval+ (base inputs only) | an MBPP- or EvalPlus-format JSONL"),
    output: Path = typer.Option(..., "--output", help="EvalPlus-format JSONL to write (for `eval run --tests`)"),
    seed: int = typer.Option(0, help="mutation seed: the same seed gives the same inputs"),
    num_inputs: int = typer.Option(100, min=1, max=10_000, help="extra inputs per task (at most)"),
    workers: int | None = typer.Option(None, min=1, help="parallel sandboxes (default: CPU cores)"),
    data_dir: Path | None = typer.Option(None, help="benchmark files in the mirror layout"),
    limit: int | None = typer.Option(None, min=1, help="only the first N problems"),
) -> None:
    """Type-aware mutants of each task's base inputs, kept where the reference solution answers them."""
    from codesieve.cli_io import probe_output_file
    from codesieve.core.benchmarks import load_benchmark
    from experiments.bench.augment_reference import AugmentConfig, augment_benchmark, write_tasks
    from experiments.bench.config import BenchSettings
    from experiments.bench.sandbox import SandboxError, check_sandbox_available

    try:
        probe_output_file(output)
        check_sandbox_available()
        bench = load_benchmark(benchmark, data_dir=data_dir)
        problems = list(bench.problems[:limit] if limit else bench.problems)
        cfg = AugmentConfig(seed=seed, num_inputs=num_inputs)
        cache_dir = BenchSettings().cache_dir
        rows = augment_benchmark(bench, problems, cfg, cache_dir, workers=workers or os.cpu_count() or 1)
        write_tasks(rows, output)
    except (ValueError, OSError, SandboxError, RuntimeError) as exc:
        raise cli_error(str(exc)) from None
    typer.echo(
        json.dumps(
            {
                "benchmark": bench.name,
                "benchmark_version": bench.version,
                "tasks": len(rows),
                "base_inputs": sum(len(r["base_input"]) for r in rows),
                "plus_inputs": sum(len(r["plus_input"]) for r in rows),
                "seed": seed,
                "output": str(output),
            }
        )
    )


@eval_app.command("security")
def security(
    output: Path = typer.Option(..., "--output", help="run directory (resumed when it exists)"),
    suite: str = typer.Option(
        "builtin", help="builtin (12 Python prompts, bandit) | cyberseceval-autocomplete | cyberseceval-instruct"
    ),
    languages: str | None = typer.Option(None, help="CyberSecEval: comma-separated languages (default: all 8)"),
    limit: int | None = typer.Option(None, min=1, help="CyberSecEval: only the first N prompts per language"),
    samples: Path | None = typer.Option(None, help="JSONL of task_id/completion (task ids like autocomplete/17)"),
    endpoint: str | None = typer.Option(None, help="gateway or vLLM base URL"),
    model: str | None = typer.Option(None),
    n: int = typer.Option(1, "-n"),
    temperature: float = typer.Option(0.2),
    max_tokens: int = typer.Option(256, min=1, help="CyberSecEval: tokens per completion"),
    seed: int = typer.Option(1234),
    api_key: str | None = typer.Option(
        None, envvar="CODESIEVE_EVAL_API_KEY", help="bearer token for the gateway (not stored)"
    ),
    concurrency: int = typer.Option(4, min=1, max=64, help="CyberSecEval: requests in flight"),
    jobs: int | None = typer.Option(None, min=1, help="CyberSecEval: semgrep jobs (default: CPU cores, at most 4)"),
    write_prompts: bool = typer.Option(False, help="only write prompts.jsonl to --output"),
    exploits: bool = typer.Option(
        True, help="builtin: attack the SQL/command/path/deserialisation functions in the sandbox (needs bwrap)"
    ),
) -> None:
    """Sample security prompts (or read samples) and report insecure-code rates per language and CWE."""
    from dataclasses import asdict

    if suite != "builtin":
        gen = generation_config(endpoint, model, n, temperature, 0.95, max_tokens, seed, api_key)
        if gen is not None:
            from dataclasses import replace

            gen = replace(gen, concurrency=concurrency)
        _security_suite(suite, output, languages, limit, samples, jobs, gen)
        return

    import httpx

    from codesieve.cli_io import OutputError, prepare_output_dir
    from codesieve.core.benchmarks import Problem
    from experiments.bench.generate import generate_samples
    from experiments.bench.run import read_samples
    from experiments.bench.sandbox import SandboxError
    from experiments.bench.security import SECURITY_PROMPTS, score_security

    if not write_prompts and (samples is None) == (endpoint is None):
        raise cli_error("give exactly one of --samples FILE or --endpoint URL --model NAME")
    try:
        prepare_output_dir(output)
    except OutputError as exc:
        raise cli_error(str(exc)) from None
    if write_prompts:
        rows = [json.dumps(asdict(p)) for p in SECURITY_PROMPTS]
        write_text_atomic(output / "prompts.jsonl", "\n".join(rows) + "\n")
        return
    try:
        if samples is not None:
            got = [(s.task_id, s.sample_idx, s.completion) for s in read_samples(samples)]
        else:
            gen = generation_config(endpoint, model, n, temperature, 0.95, 256, seed, api_key)
            problems = [
                Problem(
                    task_id=p.task_id,
                    prompt=p.prompt,
                    test="",
                    entry_point="",
                    stop_tokens=("\ndef ", "\nclass ", "\nif __name__"),
                )
                for p in SECURITY_PROMPTS
            ]
            got = [(s.task_id, s.sample_idx, s.completion) for s in generate_samples(problems, gen)]
        findings, summary = score_security(got)
        if exploits:
            summary["exploits"] = _builtin_exploits(output, got, findings)
        write_text_atomic(output / "findings.jsonl", "".join(json.dumps(asdict(f)) + "\n" for f in findings))
        write_text_atomic(output / "summary.json", json.dumps(summary, indent=2) + "\n")
    except httpx.HTTPError as exc:
        raise cli_error(f"generation failed at {endpoint}: {type(exc).__name__}: {exc}") from None
    except (ValueError, OSError, SandboxError) as exc:
        raise cli_error(str(exc)) from None
    typer.echo(json.dumps(summary))


def _builtin_exploits(output: Path, got: list[tuple[str, int, str]], findings: list[Any]) -> dict[str, Any]:
    """Exploit-test the builtin samples in the sandbox; write exploits.jsonl and report.md; return the summary."""
    from experiments.bench.exploits import render_exploits_markdown, run_exploits, summarize_exploits
    from experiments.bench.sandbox import SandboxError, check_sandbox_available
    from experiments.bench.security import SECURITY_PROMPTS

    try:
        check_sandbox_available()
    except SandboxError as exc:
        raise SandboxError(f"{exc} (or run with --no-exploits)") from None
    prompts = {p.task_id: p.prompt for p in SECURITY_PROMPTS}
    rows = run_exploits((t, i, prompts[t] + c) for t, i, c in got)
    flagged = {(f.task_id, f.sample_idx): f.unsafe for f in findings}
    rows = [{**r, "flagged": flagged.get((r["task_id"], r["sample_idx"]), False)} for r in rows]
    summary = summarize_exploits(rows, flagged)
    write_text_atomic(output / "exploits.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    write_text_atomic(output / "report.md", "# Security: builtin\n\n" + render_exploits_markdown(summary))
    return summary


def _security_suite(
    suite: str, output: Path, languages: str | None, limit: int | None, samples: Path | None, jobs: int | None, gen: Any
) -> None:
    import httpx

    from codesieve.cli_io import OutputError, prepare_output_dir
    from codesieve.core.benchmark_data import DatasetError, dataset_path
    from experiments.bench.config import BenchSettings
    from experiments.bench.cyberseceval import SUITES
    from experiments.bench.icd_rules import LANGUAGES, RulesMissing
    from experiments.bench.security_suite import SecuritySuiteConfig, run_security_suite
    from experiments.bench.semgrep_runner import SemgrepError

    if suite not in SUITES:
        raise cli_error(f"unknown suite {suite!r}; known: builtin, {', '.join(SUITES)}")
    if (samples is None) == (gen is None):
        raise cli_error("give exactly one of --samples FILE or --endpoint URL --model NAME")
    if samples is not None and not samples.is_file():
        raise cli_error(f"samples file not found: {samples}")
    chosen = tuple(x.strip() for x in languages.split(",") if x.strip()) if languages else LANGUAGES
    unknown = sorted(set(chosen) - set(LANGUAGES))
    if unknown or not chosen:
        raise cli_error(f"unknown language(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(LANGUAGES)}")
    settings = BenchSettings()
    try:
        cfg = SecuritySuiteConfig(
            suite=suite,
            dataset_file=dataset_path(suite, settings),
            output_dir=output,
            semgrep=settings.semgrep,
            samples_file=samples,
            generation=gen,
            languages=chosen,
            limit=limit,
            **({"jobs": jobs} if jobs else {}),
        )
        created = prepare_output_dir(output)
    except (DatasetError, OutputError) as exc:
        raise cli_error(str(exc)) from None
    try:
        summary = run_security_suite(cfg)
    except (ValueError, OSError, RulesMissing, SemgrepError, RuntimeError, httpx.HTTPError) as exc:
        if created:
            remove_if_unused(output)
        if isinstance(exc, httpx.HTTPError):
            raise cli_error(f"generation failed at {gen.endpoint}: {type(exc).__name__}: {exc}") from None
        raise cli_error(str(exc)) from None
    failed = summary.get("generation", {}).get("errors", 0)
    if failed:
        typer.echo(f"warning: {failed} prompt(s) got no completion (see summary.json); a rerun retries them", err=True)
    typer.echo(
        json.dumps(
            {
                "suite": suite,
                "samples": summary["num_samples"],
                "generation_errors": failed,
                "insecure_rate": summary["overall"]["rate"],
                "ci95": summary["overall"]["ci95"],
                "output": str(output),
            }
        )
    )


def _read_corpus(path: Path) -> Any:
    from codesieve.core.benchmarks import read_jsonl

    for n, row in enumerate(read_jsonl(path)):
        text = row.get("text", row.get("content"))
        if not isinstance(text, str):
            raise ValueError(f"{path}: record {n} has no text/content field")
        yield str(row.get("doc_id", row.get("id", n))), text


@eval_app.command("contamination")
def contamination(
    corpus: Path = typer.Option(..., help="training corpus: JSONL records with text (or content)"),
    benchmark: str = typer.Option(..., help="humaneval | mbpp | humaneval-<lang> | JSONL path | repo:TASKS.jsonl"),
    output: Path = typer.Option(..., "--output", help="JSON report to write"),
    run_dir: Path | None = typer.Option(None, "--run", help="a run directory whose score to split"),
    ngram: int = typer.Option(25, help="lexemes per overlap n-gram (as `dedup decontaminate --ngram`)"),
    data_dir: Path | None = typer.Option(None),
) -> None:
    """Flag benchmark problems that appear (exactly or nearly) in a training corpus.

    The test is `dedup decontaminate`'s (codesieve.core.contamination): a corpus it cleaned is clean here.
    """
    from dataclasses import asdict

    from codesieve.cli_io import probe_output_file
    from codesieve.core.benchmarks import load_benchmark
    from codesieve.core.contamination import ContaminationConfig
    from experiments.bench.contamination import check_contamination, summarize_contamination

    if not corpus.is_file():
        raise cli_error(f"corpus not found: {corpus}")
    if not 1 <= ngram <= 1000:
        raise cli_error("--ngram must be in [1, 1000]")
    try:
        probe_output_file(output)
        if benchmark.startswith("repo:"):  # an `eval repo mine` tasks file: the mined functions
            from codesieve.core.benchmarks import Benchmark
            from experiments.bench.repo.tasks import as_problems, read_tasks

            tasks = read_tasks(Path(benchmark.removeprefix("repo:")))
            bench = Benchmark(benchmark, tasks[0].repo_version, benchmark, tuple(as_problems(tasks)))
        else:
            bench = load_benchmark(benchmark, data_dir=data_dir)
        cfg = ContaminationConfig(ngram=ngram)
        findings = check_contamination(bench.problems, _read_corpus(corpus), cfg)
        run_summary = json.loads((run_dir / "summary.json").read_text()) if run_dir else None
    except (ValueError, FileNotFoundError, OSError) as exc:
        raise cli_error(str(exc)) from None
    report = {
        "benchmark": bench.name,
        "benchmark_version": bench.version,
        "corpus": str(corpus),
        "parameters": asdict(cfg),
        "summary": summarize_contamination(findings, run_summary),
        "findings": [asdict(f) for f in findings],
    }
    try:
        write_text_atomic(output, json.dumps(report, indent=2) + "\n")
    except OSError as exc:
        raise cli_error(f"cannot write {output}: {exc.strerror}") from None
    typer.echo(json.dumps(report["summary"]))


@eval_app.command("compare")
def compare(
    run_a: Path = typer.Argument(..., help="run directory A (e.g. the base model)"),
    run_b: Path = typer.Argument(..., help="run directory B (e.g. the DP model)"),
    output: Path | None = typer.Option(None, "--output", help="write the comparison JSON here"),
) -> None:
    """Compare two runs: pass@k runs paired per task (exact test); security runs by insecure rate (B - A, 95% CI)."""
    from experiments.bench.compare import compare_runs, render_comparison
    from experiments.bench.security_compare import compare_security, is_security_summary, render_security_comparison

    try:
        a = json.loads((run_a / "summary.json").read_text())
        b = json.loads((run_b / "summary.json").read_text())
        if not isinstance(a, dict) or not isinstance(b, dict):
            raise ValueError("summary.json is not a JSON object")
        if is_security_summary(a) or is_security_summary(b):
            result: Any = compare_security(a, b)
            text, data = render_security_comparison(result, str(run_a), str(run_b)), result
        else:
            result = compare_runs(a["per_task"], b["per_task"])
            text, data = render_comparison(result, str(run_a), str(run_b)), result.to_json()
    except (ValueError, FileNotFoundError, KeyError, TypeError, OSError) as exc:
        raise cli_error(f"cannot compare: {exc}") from None
    if output is not None:
        try:
            write_text_atomic(output, json.dumps(data, indent=2) + "\n")
        except OSError as exc:
            raise cli_error(f"cannot write {output}: {exc.strerror}") from None
    typer.echo(text)
