"""`codesieve eval data list|fetch`: the benchmark data the evaluator knows, and fetching it."""

from __future__ import annotations

import json

import typer

__all__ = ["data_app"]

data_app = typer.Typer(
    help="Benchmark data: what the evaluator knows (source, licence, sha256, present?) and fetching it.",
    no_args_is_help=True,
)


@data_app.command("list")
def data_list(as_json: bool = typer.Option(False, "--json", help="one JSON object per dataset")) -> None:
    """Every dataset with its source, licence, version, sha256 and whether it is on this machine."""
    from codesieve.core.benchmark_data import DATASETS, dataset_status

    rows = [dataset_status(name) for name in DATASETS]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    for row in rows:
        files = row["files"]
        assert isinstance(files, list)
        where = row["location"] if row["present"] else f"missing: codesieve eval data fetch {row['name']}"
        typer.echo(
            f"{row['name']:18s} {'present' if row['present'] else 'absent':8s} {row['version']}  {row['licence']}"
        )
        typer.echo(f"{'':18s} source: {row['source']}")
        for f in files:
            typer.echo(f"{'':18s} {f['url'] or '(no single-file download)'}  sha256 {f['sha256']}")
        typer.echo(f"{'':18s} {where}")


@data_app.command("fetch")
def data_fetch(
    name: str = typer.Argument(..., help="a dataset from `codesieve eval data list`"),
    from_url: str | None = typer.Option(
        None, "--from", help="an HTTP mirror laid out like `data list` paths (default: the official URLs)"
    ),
    timeout: float = typer.Option(60.0, help="network timeout per request, seconds"),
) -> None:
    """Download a dataset from its official source into the data directory, verifying its sha256."""
    from codesieve.core.benchmark_data import DatasetError, fetch_dataset, get_dataset

    try:
        dataset = get_dataset(name)
        if dataset.bundled_with:
            typer.echo(json.dumps({"dataset": name, "bundled_with": dataset.bundled_with}))
            return
        paths = fetch_dataset(name, base_url=from_url, timeout_s=timeout)
    except DatasetError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(json.dumps({"dataset": name, "files": [str(p) for p in paths]}))
