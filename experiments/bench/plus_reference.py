"""HumanEval+ reference outputs: the canonical solution run once in the sandbox, cached per task.

For each task and split: prompt + contract + canonical solution decides which inputs are valid (a
failing contract assertion drops the input, as does any other failure of the reference); prompt +
canonical solution alone then gives each kept input's expected output and its own time, from which
plus.py derives the per-input time limits. The cache lives under `<data_dir>/cache/plus/`, keyed by
the dataset's content hash and ORACLE_VERSION, one file per task (written atomically), so a crash
loses at most the task in progress and the judge reads one task's outputs at a time.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from codesieve.core.benchmarks import Benchmark, Problem
from experiments.bench import wire
from experiments.bench.plus import (
    ORACLE_VERSION,
    SPLITS,
    PlusTask,
    SplitOracle,
    _batch_file,
    _BatchLost,
    _parse,
    _run_batch,
    _value_text,
    guarded_program,
    is_floats,
    time_limits,
)
from experiments.bench.plus_cache import read_header, write_entry
from experiments.bench.sandbox import SandboxConfig

__all__ = ["compute_reference", "load_plus_tasks", "split_inputs"]

logger = logging.getLogger(__name__)

# The reference runs once per dataset version; these only stop a pathological input from hanging it.
REFERENCE_INPUT_LIMIT_S = 20.0
REFERENCE_TIMEOUT_S = 900.0
REFERENCE_OUTPUT_LIMIT_BYTES = 1 << 30


# One gzipped file per task: a JSON header line {"base": {index, ns, dropped, first_float,
# output_bytes}, "plus": {...}}, then the wire text of every kept expected output, base then plus.


def split_inputs(row: dict[str, Any], split: str) -> list[Any]:
    """A split's argument lists. Augmented files (augment_reference.py) store them as wire values,
    which keep tuples, sets and non-string dict keys that plain JSON would turn into lists and strings."""
    inputs: list[Any] = row[f"{split}_input"]
    if row.get("input_encoding") == "codesieve-wire/1":
        return [wire.decode_value(args) for args in inputs]
    return inputs


def _reference_answers(program: str, entry_point: str, inputs: Sequence[Any], *, discard: bool) -> list[bytes]:
    limits = [REFERENCE_INPUT_LIMIT_S] * len(inputs)
    cfg = SandboxConfig(
        timeout_s=REFERENCE_TIMEOUT_S,
        cpu_s=int(REFERENCE_TIMEOUT_S),
        address_space_mb=4096,
        output_limit_bytes=REFERENCE_OUTPUT_LIMIT_BYTES,
    )
    batch = _batch_file(entry_point, inputs, limits, stop=False, discard=discard)
    try:
        return list(_run_batch(program, batch, cfg))
    except _BatchLost as lost:
        raise RuntimeError(f"the canonical solution of {entry_point} failed as a whole: {lost.detail}") from None


def _why_rejected(line: bytes, n: int, contract: bool) -> str | None:
    if _value_text(line, n) is not None:
        return None
    message = _parse(line)
    if message.get("timeout"):
        return "reference timed out"
    kind = str(message.get("exc"))
    if contract and kind == "AssertionError":
        return "violates the contract"
    return f"reference raised {kind}"


def _text_is_floats(text: bytes) -> bool:
    if text.startswith(b'{"f":'):
        return True
    if text.startswith((b'{"nl":', b'[{"f":', b'{"t":[{"f":')):  # a list/tuple with floats: look
        return is_floats(wire.decode_value(json.loads(text)))
    return False


def compute_reference(problem: Problem, path: Path) -> None:
    """Compute one task's expected outputs and reference times in the sandbox; write `path`.

    Runs prompt + contract + canonical solution first: an input on which the contract's assertions
    fail (or the reference raises) is dropped. Then prompt + canonical solution alone (how EvalPlus
    computes its ground truth and its time) on the kept inputs.
    """
    row = problem.original
    canonical = row["prompt"] + row["canonical_solution"]
    guarded = guarded_program(row["prompt"], row["canonical_solution"], row.get("contract") or "", row["entry_point"])
    header: dict[str, Any] = {}
    texts: list[bytes] = []
    for split in SPLITS:
        inputs = split_inputs(row, split)
        dropped = []
        if row.get("contract"):
            for n, line in enumerate(_reference_answers(guarded, row["entry_point"], inputs, discard=True)):
                why = _why_rejected(line, n, contract=True)
                if why:
                    dropped.append([n, why])
        gone = {n for n, _ in dropped}
        index = [n for n in range(len(inputs)) if n not in gone]
        answers = _reference_answers(canonical, row["entry_point"], [inputs[n] for n in index], discard=False)
        kept: list[int] = []
        ns: list[int] = []
        size = 0
        first_float = None
        for k, (n, line) in enumerate(zip(index, answers, strict=True)):
            why = _why_rejected(line, k, contract=False)
            if why:
                dropped.append([n, why])
                continue
            text = _value_text(line, k)
            assert text is not None
            if first_float is None and _text_is_floats(text):
                first_float = len(kept)
            kept.append(n)
            ns.append(int(line[line.rfind(b":") + 1 : -1]))
            texts.append(text)
            size += len(text) + 32  # + the line's framing
        header[split] = {
            "index": kept,
            "ns": ns,
            "dropped": sorted(dropped),
            "first_float": first_float,
            "output_bytes": size,
        }
    write_entry(path, header, texts)


def _check_row(problem: Problem) -> None:
    """A clear error for an EvalPlus-format row the judge cannot use (a user's own JSONL)."""
    row = problem.original
    for key in ("prompt", "canonical_solution", "entry_point"):
        if not isinstance(row.get(key), str):
            raise ValueError(f"{problem.task_id}: {key!r} must be a string")
    if row.get("input_encoding") not in (None, "codesieve-wire/1"):
        raise ValueError(f"{problem.task_id}: unknown 'input_encoding' {row.get('input_encoding')!r}")
    for split in SPLITS:
        key = f"{split}_input"
        if not isinstance(row.get(key), list):
            raise ValueError(f"{problem.task_id}: {key!r} must be a list of argument lists")
        try:
            inputs = split_inputs(row, split)
        except (wire.WireError, RecursionError, TypeError, ValueError) as exc:
            raise ValueError(f"{problem.task_id}: {key!r} does not decode ({exc})") from None
        if not all(isinstance(args, list) for args in inputs):
            raise ValueError(f"{problem.task_id}: {key!r} must be a list of argument lists")
    if not isinstance(row.get("contract") or "", str):
        raise ValueError(f"{problem.task_id}: 'contract' must be a string")
    atol = row.get("atol") or 0
    if isinstance(atol, bool) or not isinstance(atol, (int, float)) or not 0 <= atol < float("inf"):
        raise ValueError(f"{problem.task_id}: 'atol' must be a non-negative number")


def _usable(path: Path) -> bool:
    """A cache file whose header reads back; anything else is recomputed."""
    if not path.is_file():
        return False
    try:
        read_header(path)
    except (OSError, EOFError, ValueError):
        logger.warning("recomputing the damaged reference cache %s", path)
        return False
    return True


def _task_from_header(problem: Problem, header: dict[str, Any], path: Path) -> PlusTask:
    row = problem.original
    splits = {}
    for split in SPLITS:
        h = header[split]
        inputs = split_inputs(row, split)
        splits[split] = SplitOracle(
            index=tuple(h["index"]),
            inputs=tuple(inputs[n] for n in h["index"]),
            limits_s=tuple(time_limits(h["ns"])),
            first_float=h["first_float"],
            dropped=tuple((int(n), str(why)) for n, why in h["dropped"]),
            output_bytes=int(h["output_bytes"]),
        )
    return PlusTask(
        task_id=problem.task_id,
        entry_point=row["entry_point"],
        prompt=row["prompt"],
        atol=float(row.get("atol") or 0.0),
        base=splits["base"],
        plus=splits["plus"],
        expected_file=path,
    )


def _cache_dir_for(cache_dir: Path, bench: Benchmark) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{bench.name}-{bench.version}")
    return cache_dir / "plus" / f"{safe}-{ORACLE_VERSION.replace('/', '_')}"


def load_plus_tasks(
    bench: Benchmark, problems: Sequence[Problem], cache_dir: Path, *, workers: int = 1
) -> dict[str, PlusTask]:
    """The judge's view of each task. Reference outputs come from the cache (one file per task,
    keyed by dataset version and ORACLE_VERSION); missing tasks are computed in the sandbox first."""
    for problem in problems:
        _check_row(problem)
    root = _cache_dir_for(cache_dir, bench)
    paths = {p.task_id: root / (p.task_id.replace("/", "_") + ".jsonl.gz") for p in problems}
    todo = [p for p in problems if not _usable(paths[p.task_id])]
    if todo:
        started = time.monotonic()
        logger.info("computing reference outputs for %d tasks in the sandbox (cached in %s)", len(todo), root)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            list(pool.map(lambda p: compute_reference(p, paths[p.task_id]), todo))
        logger.info("reference outputs computed in %.1f s", time.monotonic() - started)
    tasks = {p.task_id: _task_from_header(p, read_header(paths[p.task_id]), paths[p.task_id]) for p in problems}
    dropped = sum(len(t.base.dropped) + len(t.plus.dropped) for t in tasks.values())
    if dropped:
        logger.info("%d inputs dropped (contract violations or reference failures)", dropped)
    return tasks
