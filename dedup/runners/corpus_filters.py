"""run_decontaminate and run_scrub_secrets: one-pass corpus filters, streamed file by file.

Outputs keep the input format (artifacts written atomically; `_SUCCESS` marks a finished run):
  decontaminate: OUTPUT/clean/, OUTPUT/contaminated/ (records + `decontamination` reasons)
  scrub-secrets: OUTPUT/scrubbed/ (secrets replaced by typed placeholders)
and report.json + report.md with the counts. Secrets themselves are never logged or reported.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from codesieve.core import storage
from codesieve.core.contamination import (
    BenchmarkItem,
    ContaminationConfig,
    build_benchmark_index,
    detect_contamination,
)
from codesieve.core.records import CodeRecord, make_doc_index
from dedup.config import library_versions

__all__ = ["run_decontaminate", "run_scrub_secrets"]

logger = logging.getLogger(__name__)


def run_decontaminate(
    inputs: Sequence[str | Path],
    output: str | Path,
    benchmarks: Sequence[BenchmarkItem],
    *,
    cfg: ContaminationConfig | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Split the corpus into clean and contaminated records; return the report."""
    cfg = cfg or ContaminationConfig()
    files = storage.list_input_files(inputs)
    out = Path(output)
    index = build_benchmark_index(benchmarks, cfg)
    removed: list[dict[str, Any]] = []
    per_benchmark: Counter[str] = Counter()
    per_reason: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for ordinal, path in enumerate(tqdm(files, desc="decontaminate", unit="file", disable=not progress)):

        def route(row: int, raw: dict[str, Any], ordinal: int = ordinal) -> tuple[str, Any]:
            record = CodeRecord.from_dict(raw, make_doc_index(ordinal, row))
            findings = detect_contamination(record.content, index)
            totals["records"] += 1
            if not findings:
                return "clean", None
            reasons = [asdict(f) for f in findings]
            removed.append({"doc_id": record.doc_id, "matches": reasons})
            per_benchmark.update({f.benchmark for f in findings})
            per_reason.update({f.reason for f in findings})
            return "contaminated", {**raw, "decontamination": reasons}

        name = storage.output_name(ordinal, path)
        storage.rewrite_records(
            path,
            {"clean": out / "clean" / name, "contaminated": out / "contaminated" / name},
            route,
            extra_columns={"contaminated": {"decontamination": _REASONS_TYPE()}},
        )
    report = {
        "job": "decontaminate",
        "parameters": asdict(cfg),
        "benchmarks": dict(Counter(i.benchmark for i in benchmarks)),
        "input_fingerprint": storage.compute_input_fingerprint(files)["sha256"],
        "versions": library_versions(),
        "records": totals["records"],
        "removed_records": len(removed),
        "removed_per_benchmark": dict(sorted(per_benchmark.items())),
        "removed_per_reason": dict(sorted(per_reason.items())),
        "removed": removed,
    }
    _write_report(out, report, _decontamination_markdown(report))
    logger.info("decontaminate: %d of %d records removed", len(removed), totals["records"])
    return report


def _REASONS_TYPE():  # noqa: ANN202, N802 - Arrow type of the `decontamination` column
    import pyarrow as pa

    return pa.list_(
        pa.struct(
            [
                ("benchmark", pa.string()),
                ("task_id", pa.string()),
                ("field", pa.string()),
                ("reason", pa.string()),
                ("shared_ngrams", pa.int64()),
            ]
        )
    )


def run_scrub_secrets(inputs: Sequence[str | Path], output: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Replace every secret codesieve.core.secret_scan finds (the gateway's scanner) by its typed placeholder."""
    from codesieve.core.config_secrets import config_syntax
    from codesieve.core.redaction import apply_redactions
    from codesieve.core.secret_scan import scan_secrets

    files = storage.list_input_files(inputs)
    out = Path(output)
    per_detector: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for ordinal, path in enumerate(tqdm(files, desc="scrub-secrets", unit="file", disable=not progress)):

        def route(row: int, raw: dict[str, Any], ordinal: int = ordinal) -> tuple[str, Any]:
            record = CodeRecord.from_dict(raw, make_doc_index(ordinal, row))
            # Configuration files are read with their own syntax (by path, else the record's language).
            findings = scan_secrets(record.content, syntax=config_syntax(record.path, record.language))
            totals["records"] += 1
            if not findings:
                return "scrubbed", None
            totals["records_with_secrets"] += 1
            per_detector.update(f.detector for f in findings)
            return "scrubbed", {**raw, "content": apply_redactions(record.content, findings)}

        name = storage.output_name(ordinal, path)
        storage.rewrite_records(path, {"scrubbed": out / "scrubbed" / name}, route)
    report = {
        "job": "scrub-secrets",
        "input_fingerprint": storage.compute_input_fingerprint(files)["sha256"],
        "versions": library_versions(),
        "records": totals["records"],
        "records_with_secrets": totals["records_with_secrets"],
        "secrets_per_detector": dict(sorted(per_detector.items())),
    }
    lines = [
        "# Secret scrubbing report",
        "",
        f"- records: {report['records']}, with secrets: {report['records_with_secrets']}",
        "",
        "| detector | secrets replaced |",
        "| --- | ---: |",
    ]
    lines += [f"| {d} | {n} |" for d, n in report["secrets_per_detector"].items()]
    _write_report(out, report, "\n".join(lines) + "\n")
    logger.info("scrub-secrets: %d of %d records had secrets", totals["records_with_secrets"], totals["records"])
    return report


def _decontamination_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Decontamination report",
        "",
        f"- benchmarks: {', '.join(f'{k} ({v} texts)' for k, v in report['benchmarks'].items())}",
        f"- records: {report['records']}, removed: {report['removed_records']}",
        "",
        "| removed record | matches (benchmark:task:field:reason) |",
        "| --- | --- |",
    ]
    for r in report["removed"]:
        matches = ", ".join(f"{m['benchmark']}:{m['task_id']}:{m['field']}:{m['reason']}" for m in r["matches"])
        lines.append(f"| {r['doc_id']} | {matches} |")
    return "\n".join(lines) + "\n"


def _write_report(out: Path, report: dict[str, Any], markdown: str) -> None:
    storage.write_json(out / "report.json", report)
    storage.write_text(out / "report.md", markdown)
    storage.mark_stage_done(out, {"records": report["records"]})
