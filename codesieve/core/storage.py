"""Record files and stage artifacts on disk: JSONL, JSONL.gz and Parquet; atomic writes; markers.

Every file is written under a temporary name in the same folder and renamed into place, so a
crash never leaves a half-written output under its final name. A stage folder is complete when
it holds `_SUCCESS`.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from codesieve.core.records import CodeRecord, make_doc_index

__all__ = [
    "RecordFormat",
    "SUCCESS",
    "atomic_path",
    "compute_input_fingerprint",
    "is_stage_done",
    "iter_code_records",
    "iter_raw_records",
    "list_input_files",
    "mark_stage_done",
    "output_name",
    "read_table",
    "record_format",
    "rewrite_records",
    "write_json",
    "write_table",
    "write_text",
]

RecordFormat = Literal["jsonl", "jsonl.gz", "parquet"]
SUCCESS = "_SUCCESS"
_SUFFIXES: dict[str, RecordFormat] = {
    ".jsonl.gz": "jsonl.gz",
    ".json.gz": "jsonl.gz",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
}
_PARQUET_BATCH_ROWS = 1024


def record_format(path: Path) -> RecordFormat:
    name = path.name.lower()
    for suffix, fmt in _SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    raise ValueError(f"{path}: unsupported file type (expected .jsonl, .jsonl.gz or .parquet)")


def list_input_files(paths: Sequence[str | Path]) -> list[Path]:
    """Input files in a stable order: given files as given, folders expanded and sorted."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _has_record_suffix(p))
            if not found:
                raise ValueError(f"{path}: folder holds no .jsonl, .jsonl.gz or .parquet files")
            files.extend(found)
        elif path.is_file():
            record_format(path)  # raises on an unsupported suffix
            files.append(path)
        else:
            raise ValueError(f"{path}: no such file or folder")
    return files


def _has_record_suffix(path: Path) -> bool:
    return any(path.name.lower().endswith(s) for s in _SUFFIXES) and not path.name.startswith((".", "_"))


def output_name(file_ordinal: int, path: Path) -> str:
    """The name of an input file's output part: ordinal-prefixed, same suffix as the input."""
    return f"part-{file_ordinal:05d}-{path.name}"


def _open_text(path: Path, mode: str, *, gz: bool) -> IO[str]:
    if gz:
        return gzip.open(path, mode + "t", encoding="utf-8")  # type: ignore[return-value]
    return open(path, mode, encoding="utf-8")  # noqa: SIM115


def iter_raw_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of one file as dicts, in file order (blank JSONL lines are skipped)."""
    if record_format(path) == "parquet":
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS):
            yield from batch.to_pylist()
        return
    with _open_text(path, "r", gz=record_format(path) == "jsonl.gz") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from None
            if not isinstance(value, dict):
                raise ValueError(f"{path}:{line_no}: a record must be a JSON object")
            yield value


def iter_code_records(path: Path, file_ordinal: int) -> Iterator[CodeRecord]:
    """CodeRecords of one file; doc_index = (file_ordinal, row)."""
    for row, raw in enumerate(iter_raw_records(path)):
        try:
            yield CodeRecord.from_dict(raw, make_doc_index(file_ordinal, row))
        except ValueError as exc:  # "record <doc_index>: why" -> "<file>, record <n>: why"
            raise ValueError(f"{path}, record {row + 1}: {str(exc).partition(': ')[2]}") from None


def require_records(files: Sequence[Path]) -> None:
    """Raise ValueError unless some file holds at least one record (reads up to one per file)."""
    for path in files:
        if next(iter_raw_records(path), None) is not None:
            return
    raise ValueError(f"no records in the input ({', '.join(str(p) for p in files)})")


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """A temporary path beside `final`; renamed onto `final` only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            if tmp.is_dir():
                import shutil

                shutil.rmtree(tmp)
            else:
                tmp.unlink()


def write_table(path: Path, table: pa.Table) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_table(path: Path, columns: list[str] | None = None) -> pa.Table:
    """A Parquet file, or every Parquet file of a folder (files starting with _ or . skipped)."""
    return pq.read_table(path, columns=columns)


def write_json(path: Path, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def is_stage_done(stage_dir: Path) -> bool:
    return (stage_dir / SUCCESS).is_file()


def mark_stage_done(stage_dir: Path, info: Mapping[str, Any] | None = None) -> None:
    """Write the stage's `_SUCCESS` marker (with a small JSON summary), atomically."""
    stage_dir.mkdir(parents=True, exist_ok=True)
    write_json(stage_dir / SUCCESS, dict(info or {}))


def compute_input_fingerprint(files: Sequence[Path]) -> dict[str, Any]:
    """SHA-256 of every input file's bytes, and one digest over all of them in order."""
    entries = []
    overall = hashlib.sha256()
    for path in files:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        entries.append({"path": str(path), "bytes": path.stat().st_size, "sha256": digest.hexdigest()})
        overall.update(f"{path.name}\0{digest.hexdigest()}\n".encode())
    return {"sha256": overall.hexdigest(), "files": entries}


_Route = Callable[[int, dict[str, Any]], tuple[str, dict[str, Any] | None]]


def rewrite_records(
    src: Path,
    outputs: Mapping[str, Path],
    route: Callable[[int, dict[str, Any]], tuple[str, dict[str, Any] | None]],
    *,
    extra_columns: Mapping[str, Mapping[str, pa.DataType]] | None = None,
) -> dict[str, int]:
    """Stream `src` into several outputs of the same format, each written atomically.

    Args:
        src: input record file.
        outputs: {name: path} of the output files (all written, possibly empty).
        route: (row, raw record) -> (output name, record to write or None for the raw record
            unchanged). Unchanged JSONL records are copied byte for byte.
        extra_columns: for Parquet, {output name: {column: type}} added to the input schema.
    Returns:
        {output name: records written}.
    """
    fmt = record_format(src)
    counts = dict.fromkeys(outputs, 0)
    with contextlib.ExitStack() as stack:
        tmps = {name: stack.enter_context(atomic_path(p)) for name, p in outputs.items()}
        if fmt == "parquet":
            _rewrite_parquet(src, tmps, route, extra_columns or {}, counts)
        else:
            _rewrite_jsonl(src, tmps, route, counts)
    return counts


def _rewrite_jsonl(src: Path, tmps: Mapping[str, Path], route: _Route, counts: dict[str, int]) -> None:
    gz = record_format(src) == "jsonl.gz"
    with contextlib.ExitStack() as stack:
        sinks = {name: stack.enter_context(_open_text(t, "w", gz=gz)) for name, t in tmps.items()}
        with _open_text(src, "r", gz=gz) as fh:
            row = 0
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{src}:{line_no}: not valid JSON ({exc.msg})") from None
                name, value = route(row, raw)
                row += 1
                if value is None:
                    sinks[name].write(line if line.endswith("\n") else line + "\n")
                else:
                    sinks[name].write(json.dumps(value, ensure_ascii=False) + "\n")
                counts[name] += 1


def _rewrite_parquet(
    src: Path,
    tmps: Mapping[str, Path],
    route: _Route,
    extra_columns: Mapping[str, Mapping[str, pa.DataType]],
    counts: dict[str, int],
) -> None:
    parquet = pq.ParquetFile(src)
    base = parquet.schema_arrow
    schemas = {}
    for name in tmps:
        schema = base
        for column, dtype in extra_columns.get(name, {}).items():
            if column not in schema.names:
                schema = schema.append(pa.field(column, dtype))
        schemas[name] = schema
    with contextlib.ExitStack() as stack:
        writers = {name: stack.enter_context(pq.ParquetWriter(tmp, schemas[name])) for name, tmp in tmps.items()}
        row = 0
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS):
            buckets: dict[str, list[dict[str, Any]]] = {name: [] for name in tmps}
            for raw in batch.to_pylist():
                name, value = route(row, raw)
                row += 1
                buckets[name].append(raw if value is None else value)
            for name, rows in buckets.items():
                if rows:
                    writers[name].write_table(pa.Table.from_pylist(rows, schema=schemas[name]))
                    counts[name] += len(rows)
