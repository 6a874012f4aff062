"""`codesieve dedup ...`: parse options -> config -> runner; clear errors, no tracebacks.

codesieve dedup run --input PATHS --output DIR [--engine local|spark] [--threshold 0.7] ...
codesieve dedup decontaminate --input PATHS --output DIR --benchmarks humaneval,mbpp[,FILE][,repo:TASKS] [--tasks F]
codesieve dedup scrub-secrets --input PATHS --output DIR
"""

from __future__ import annotations

import json
import logging
import shutil
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from codesieve.cli_io import cli_error

__all__ = ["dedup_app"]

logger = logging.getLogger(__name__)

dedup_app = typer.Typer(
    help="Training-corpus jobs: exact + MinHash near dedup, decontamination, secret scrubbing.",
    no_args_is_help=True,
)

InputOpt = Annotated[
    list[Path],
    typer.Option("--input", "-i", help="JSONL, JSONL.gz or Parquet files, or folders of them."),
]
OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="Output folder.")]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars.")]


class Engine(StrEnum):
    local = "local"
    spark = "spark"


def _resolve_bands_rows(  # noqa: ANN202
    threshold: float, num_perm: int, bands: int | None, rows: int | None, *, verify: bool
):
    # Precedence: explicit --bands/--rows > the default 25x10 for 0.7 / 256 (also the
    # equal-weight optimum) > optimal_bands_rows(threshold, num_perm). With --verify, candidates
    # are cheap to reject, so the banding favours recall (false negatives weigh 0.95): 36x7 for
    # 0.7 / 256, whose S-curve finds 95% of pairs at J = 0.7 (benchmarks/dedup_quality.py).
    if (bands is None) != (rows is None):
        raise ValueError("give both --bands and --rows, or neither")
    if bands is not None and rows is not None:
        return bands, rows
    from codesieve.core.lsh_params import optimal_bands_rows

    if verify:
        return optimal_bands_rows(threshold, num_perm, false_positive_weight=0.05, false_negative_weight=0.95)
    if threshold == 0.7 and num_perm == 256:
        return 25, 10
    return optimal_bands_rows(threshold, num_perm)


@dedup_app.command("run")
def run(
    inputs: InputOpt,
    output: OutputOpt,
    engine: Annotated[Engine, typer.Option(help="local (one process) or spark.")] = Engine.local,
    threshold: Annotated[float, typer.Option(help="Jaccard threshold (LSH tuning, --verify).")] = 0.7,
    num_perm: Annotated[int, typer.Option(help="MinHash permutations.")] = 256,
    bands: Annotated[
        int | None,
        typer.Option(help="LSH bands (default 25x10 for 0.7/256; recall-tuned with --verify)."),
    ] = None,
    rows: Annotated[int | None, typer.Option(help="LSH rows per band.")] = None,
    ngram: Annotated[int, typer.Option(help="Lexemes per shingle.")] = 5,
    seed: Annotated[int, typer.Option(help="MinHash permutation seed.")] = 1,
    hash_fn: Annotated[str, typer.Option(help="Shingle hash: sha1_32 or xxh32.")] = "sha1_32",
    verify: Annotated[bool, typer.Option(help="Check candidate pairs by exact Jaccard.")] = False,
    workers: Annotated[int, typer.Option(help="Local engine: processes for signatures.")] = 1,
    master: Annotated[str, typer.Option(help="Spark master URL.")] = "local[*]",
    progress: ProgressOpt = True,
) -> None:
    """Exact then MinHash near dedup; writes the deduped corpus, clusters and a report."""
    from codesieve.core import storage
    from dedup.config import MinhashConfig
    from dedup.runners.artifacts import InputChangedError

    created = not output.exists()
    try:
        storage.require_records(storage.list_input_files(inputs))
        b, r = _resolve_bands_rows(threshold, num_perm, bands, rows, verify=verify)
        cfg = MinhashConfig(
            ngram=ngram,
            num_perm=num_perm,
            seed=seed,
            hash_fn=hash_fn,  # type: ignore[arg-type]
            bands=b,
            rows=r,
            threshold=threshold,
            verify=verify,
        )
        if engine is Engine.spark:
            from dedup.runners.spark import run_spark

            result = run_spark(cfg, inputs, output, master=master)
        else:
            from dedup.runners.local import run_local

            result = run_local(cfg, inputs, output, workers=workers, progress=progress)
    except (ValueError, InputChangedError, OSError) as exc:
        if created:  # a run that never finished on bad input leaves nothing behind
            shutil.rmtree(output, ignore_errors=True)
        raise cli_error(str(exc)) from None
    totals = result.report["totals"]
    typer.echo(
        f"{totals['input_docs']} records: kept {totals['kept_docs']}, removed "
        f"{totals['removed_exact_docs']} exact + {totals['removed_near_docs']} near duplicates "
        f"-> {result.layout.root}"
    )


@dedup_app.command("decontaminate")
def decontaminate(
    inputs: InputOpt,
    output: OutputOpt,
    benchmarks: Annotated[
        str,
        typer.Option(help="Comma-separated: humaneval, mbpp, JSONL benchmark files, repo:TASKS.jsonl ('' for none)."),
    ] = "humaneval,mbpp",
    benchmarks_dir: Annotated[
        Path | None,
        typer.Option(
            help="A folder laid out like the benchmark mirror, e.g. holding mbpp.jsonl "
            "(default: as `codesieve eval data list` finds it)."
        ),
    ] = None,
    ngram: Annotated[int, typer.Option(help="Lexemes per overlap n-gram.")] = 25,
    tasks: Annotated[
        list[Path] | None,
        typer.Option("--tasks", help="Tasks file(s) of `codesieve eval repo mine`: drop the mined functions too."),
    ] = None,
    progress: ProgressOpt = True,
) -> None:
    """Remove records containing a benchmark's prompt or solution; report what and why.

    Contamination is `codesieve.core.contamination`'s definition, the one `eval contamination` uses.
    """
    from codesieve.core.contamination import ContaminationConfig, load_benchmark_items, load_repo_tasks
    from dedup.runners.corpus_filters import run_decontaminate

    try:
        items = load_benchmark_items(benchmarks, benchmarks_dir) if benchmarks.strip() or not tasks else []
        for path in tasks or []:
            items.extend(load_repo_tasks(path))
        report = run_decontaminate(inputs, output, items, cfg=ContaminationConfig(ngram=ngram), progress=progress)
    except (ValueError, OSError) as exc:
        raise cli_error(str(exc)) from None
    typer.echo(
        f"{report['records']} records: removed {report['removed_records']} "
        f"{json.dumps(report['removed_per_benchmark'])} -> {output}"
    )


@dedup_app.command("scrub-secrets")
def scrub_secrets(inputs: InputOpt, output: OutputOpt, progress: ProgressOpt = True) -> None:
    """Replace secrets in every record by typed placeholders (the gateway's secret scanner)."""
    from dedup.runners.corpus_filters import run_scrub_secrets

    try:
        report = run_scrub_secrets(inputs, output, progress=progress)
    except (ValueError, OSError) as exc:
        raise cli_error(str(exc)) from None
    typer.echo(
        f"{report['records']} records, {report['records_with_secrets']} with secrets: "
        f"{json.dumps(report['secrets_per_detector'])} -> {output}"
    )
