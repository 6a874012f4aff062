"""`codesieve index ...`: build the reference index of licensed code from a corpus file."""

from __future__ import annotations

import itertools
import logging
import time
from pathlib import Path
from typing import Annotated

import typer

from codesieve.cli_io import cli_error

__all__ = ["index_app"]

logger = logging.getLogger(__name__)

index_app = typer.Typer(help="Reference index of licensed code (provenance filter).", no_args_is_help=True)


@index_app.command("build")
def build(
    input_path: Annotated[
        Path, typer.Option("--input", help="Corpus: JSONL or Parquet records with content, repo, path, licence.")
    ],
    output: Annotated[Path, typer.Option("--output", help="Index directory (replaced atomically).")],
    k: Annotated[int, typer.Option(help="k-gram length in lexemes.")] = 12,
    window: Annotated[int, typer.Option(help="Winnowing window (k-grams).")] = 5,
    max_postings: Annotated[int, typer.Option(help="Drop fingerprints posted more often.")] = 1000,
    workers: Annotated[int, typer.Option(help="Fingerprinting processes.")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Build a memory-mappable provenance index from a corpus of licensed code."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from codesieve.core.index import IndexConfig
    from codesieve.core.index_store import IndexFormatError, build_index, read_corpus_records, save_index

    if not input_path.is_file():
        raise cli_error(f"corpus not found: {input_path}")
    try:
        config = IndexConfig(k=k, window=window, max_postings=max_postings)
    except ValueError as exc:
        raise cli_error(str(exc)) from None
    started = time.perf_counter()
    try:
        records = read_corpus_records(input_path)
        first = next(records, None)
        if first is None:
            raise cli_error(f"no records in {input_path}: nothing to index")
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), disable=quiet, transient=True
        ) as bar:
            task = bar.add_task("indexing", total=None)

            def progress(docs: int, chars: int) -> None:
                if docs % 200 == 0:
                    bar.update(task, description=f"indexing: {docs} files, {chars / 1e6:.1f} MB")

            index = build_index(itertools.chain([first], records), config, workers=workers, progress=progress)
        save_index(index, output)
    except IndexFormatError as exc:
        raise cli_error(str(exc)) from None
    except (OSError, ValueError) as exc:  # unreadable corpus (bad Parquet, encoding, ...)
        raise cli_error(f"cannot build index from {input_path}: {exc}") from None
    typer.echo(
        f"indexed {len(index.docs.paths)} files, {len(index)} fingerprints -> {output} "
        f"in {time.perf_counter() - started:.1f}s"
    )
