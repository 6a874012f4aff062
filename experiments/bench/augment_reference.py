"""Augmented tests for any benchmark with a reference solution: mutants kept by the reference, in the sandbox.

    task (MBPP asserts, or an EvalPlus row's base_input) -> base inputs -> augment.Mutator
        -> rounds: candidates from the pool (base inputs + kept mutants) -> the reference, with the
           task's precondition (`contract`) where the benchmark has one, runs every candidate twice,
           each time in its own sandbox -> a candidate is dropped when the reference raises (a
           failing precondition included), times out, answers differently the second time, or
           answers a negative number where every base answer is >= 0 (augment.in_answer_range)
        -> an EvalPlus-format row (base_input, plus_input, contract, atol, canonical_solution,
           entry_point), judged like HumanEval+ by plus.py (expected outputs from plus_reference.py).

Rows are cached per task under `<cache_dir>/augment/`, keyed by the benchmark's version, the
seed, the input count and AUGMENT_VERSION (one file per task, written atomically).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from codesieve.core.benchmarks import Benchmark, Problem
from experiments.bench import wire
from experiments.bench.augment import AUGMENT_VERSION, Mutator, in_answer_range, mbpp_call_inputs, task_rng
from experiments.bench.plus import _batch_file, _BatchLost, _parse, _run_batch, _value_text, guarded_program
from experiments.bench.sandbox import SandboxConfig

__all__ = [
    "INPUT_ENCODING",
    "AugmentConfig",
    "augment_benchmark",
    "augment_task",
    "augmented_benchmark",
    "base_inputs",
    "write_tasks",
]

logger = logging.getLogger(__name__)

# Inputs in an augmented file are wire values (tuples, sets and non-string dict keys survive JSON);
# plus_reference.py decodes rows that carry this marker.
INPUT_ENCODING = "codesieve-wire/1"
# A mutant on which the reference needs more than this is too slow to judge others with (a correct
# candidate gets max(1 s, 4 x the reference's time): plus.py).
REFERENCE_INPUT_LIMIT_S = 1.0
REFERENCE_BATCH_TIMEOUT_S = 60.0
# No further round once a task has used this much wall time (a reference that is slow on most
# mutants, e.g. exponential in a length, would otherwise cost a limit per candidate per round).
TASK_BUDGET_S = 30.0


@dataclass(frozen=True)
class AugmentConfig:
    """One augmentation: how many extra inputs per task, from which seed, in how many rounds."""

    seed: int = 0
    num_inputs: int = 100  # plus inputs kept per task (at most)
    rounds: int = 3  # generate -> check with the reference -> grow the pool, this many times
    candidates_factor: int = 2  # candidates per round: factor x the inputs still wanted


def base_inputs(problem: Problem) -> list[list[Any]]:
    """A task's base test inputs: an EvalPlus row's `base_input`, or the calls in MBPP's asserts."""
    row = problem.original
    if isinstance(row.get("base_input"), list):
        return [list(args) for args in _decoded(row, row["base_input"])]
    if isinstance(row.get("test_list"), list):
        return mbpp_call_inputs(row["test_list"], problem.entry_point)
    raise ValueError(
        f"{problem.task_id}: no base inputs to augment (needs an EvalPlus-format `base_input` or MBPP `test_list`;"
        " for HumanEval use humaneval+, whose base_input holds HumanEval's test inputs)"
    )


def _decoded(row: dict[str, Any], inputs: list[Any]) -> list[Any]:
    if row.get("input_encoding") == INPUT_ENCODING:
        return [wire.decode_value(args) for args in inputs]
    return inputs


def _source(problem: Problem) -> tuple[str, str, str, float]:
    """(prompt, canonical solution, contract, atol) of a task; ValueError without a reference."""
    row = problem.original
    solution = row.get("canonical_solution", problem.canonical_solution)
    if not isinstance(solution, str) or not solution.strip():
        raise ValueError(f"{problem.task_id}: no reference solution to compute expected outputs with")
    prompt = row["prompt"] if isinstance(row.get("prompt"), str) else problem.prompt
    return prompt, solution, str(row.get("contract") or ""), float(row.get("atol") or 0.0)


def _reference_values(program: str, entry_point: str, inputs: Sequence[Any]) -> list[Any]:
    """The reference's answer to each input (decoded), or None where it raised or timed out."""
    if not inputs:
        return []
    cfg = SandboxConfig(
        timeout_s=min(REFERENCE_BATCH_TIMEOUT_S, 5.0 + REFERENCE_INPUT_LIMIT_S * len(inputs)),
        cpu_s=int(REFERENCE_BATCH_TIMEOUT_S),
        address_space_mb=4096,
        output_limit_bytes=256 << 20,
    )
    batch = _batch_file(entry_point, inputs, [REFERENCE_INPUT_LIMIT_S] * len(inputs), stop=False)
    out: list[Any] = [None] * len(inputs)
    try:
        for n, line in enumerate(_run_batch(program, batch, cfg)):
            text = _value_text(line, n)
            if text is None:
                _parse(line)  # an exception or a timeout: dropped; garbled output: _BatchLost
                continue
            out[n] = ("ok", wire.decode_value(json.loads(text)), text)
    except _BatchLost as lost:
        # Rare: the reference died mid-batch (memory, a crash): what it answered before still counts.
        logger.warning("reference of %s stopped mid-batch: %s", entry_point, lost.detail)
    return out


def _agree(a: Any, b: Any) -> bool:
    """Two runs of the reference gave the same answer (texts may differ in set order only); a
    second run that raised or timed out where the first answered is non-deterministic too."""
    return a is not None and b is not None and (a[2] == b[2] or a[1] == b[1])


def _key(args: Any) -> str:
    return json.dumps(wire.encode_value(list(args)), sort_keys=True)


def augment_task(problem: Problem, cfg: AugmentConfig) -> dict[str, Any]:
    """The EvalPlus-format row of one task: its base inputs and up to `num_inputs` kept mutants."""
    prompt, solution, contract, atol = _source(problem)
    base = base_inputs(problem)
    if not base:
        raise ValueError(f"{problem.task_id}: no literal base inputs found to mutate")
    program = guarded_program(prompt, solution, contract, problem.entry_point)  # the precondition runs first
    mutator = Mutator(base, task_rng(cfg.seed, problem.task_id))
    seen = {_key(args) for args in base}
    pool: list[list[Any]] = [list(a) for a in base]
    kept: list[list[Any]] = []
    dropped = {"reference failed": 0, "non-deterministic": 0, "answer out of the base answers' range": 0}
    started = time.monotonic()
    base_answers = [a[1] for a in _reference_values(program, problem.entry_point, base) if a is not None]
    for round_ in range(cfg.rounds):
        wanted = cfg.num_inputs - len(kept)
        if wanted <= 0 or time.monotonic() - started > TASK_BUDGET_S:
            break
        candidates = mutator.boundary_inputs() if round_ == 0 else []
        for _ in range(cfg.candidates_factor * wanted * 4):  # most mutants of a small domain repeat
            if len(candidates) >= cfg.candidates_factor * wanted:
                break
            candidates.append(mutator.mutant(pool))
        fresh = []
        for args in candidates:
            key = _key(args)
            if key not in seen:
                seen.add(key)
                fresh.append(args)
        first = _reference_values(program, problem.entry_point, fresh)
        # the second run only for what the first answered: a timeout is not paid for twice
        answered = [n for n, a in enumerate(first) if a is not None]
        second: list[Any] = [None] * len(fresh)
        again = _reference_values(program, problem.entry_point, [fresh[n] for n in answered])
        for n, b in zip(answered, again, strict=True):
            second[n] = b
        for args, a, b in zip(fresh, first, second, strict=True):
            if a is None:
                dropped["reference failed"] += 1
            elif not _agree(a, b):
                dropped["non-deterministic"] += 1
            elif not in_answer_range(a[1], base_answers):
                dropped["answer out of the base answers' range"] += 1
            elif len(kept) < cfg.num_inputs:
                kept.append(args)
                pool.append(args)
    return {
        "task_id": problem.task_id,
        "prompt": prompt,
        "entry_point": problem.entry_point,
        "canonical_solution": solution,
        "contract": contract,
        "atol": atol,
        "test": "",
        "input_encoding": INPUT_ENCODING,
        "base_input": [wire.encode_value(list(args)) for args in base],
        "plus_input": [wire.encode_value(list(args)) for args in kept],
        "augment": {"version": AUGMENT_VERSION, **asdict(cfg), "dropped": dropped},
    }


def _cache_root(cache_dir: Path, bench: Benchmark, cfg: AugmentConfig) -> Path:
    key = hashlib.sha256(f"{bench.name}|{bench.version}|{AUGMENT_VERSION}|{asdict(cfg)}".encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in bench.name)
    return cache_dir / "augment" / f"{safe}-{key}"


def _cached_task(path: Path, problem: Problem, cfg: AugmentConfig) -> dict[str, Any]:
    if path.is_file():
        try:
            row: dict[str, Any] = json.loads(path.read_text())
            return row
        except (OSError, ValueError):
            logger.warning("recomputing the damaged augmentation cache %s", path)
    row = augment_task(problem, cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(row))
    os.replace(tmp, path)  # atomic: a crash leaves no half-written entry
    return row


def augment_benchmark(
    bench: Benchmark, problems: Sequence[Problem], cfg: AugmentConfig, cache_dir: Path, *, workers: int = 1
) -> list[dict[str, Any]]:
    """EvalPlus-format rows for `problems`, from the cache or computed in the sandbox (in order)."""
    for problem in problems:
        if problem.language != "py":
            raise ValueError(f"{problem.task_id}: only Python benchmarks can be augmented")
        _source(problem)
    root = _cache_root(cache_dir, bench, cfg)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        rows = list(pool.map(lambda p: _cached_task(root / (p.task_id.replace("/", "_") + ".json"), p, cfg), problems))
    logger.info(
        "augmented %d tasks: %d extra inputs in %.1f s (cache %s)",
        len(rows),
        sum(len(r["plus_input"]) for r in rows),
        time.monotonic() - started,
        root,
    )
    return rows


def augmented_benchmark(
    bench: Benchmark, problems: Sequence[Problem], cfg: AugmentConfig, cache_dir: Path, *, workers: int = 1
) -> Benchmark:
    """`problems` as an EvalPlus-format benchmark with augmented inputs; its version is the hash of
    the task file (kept in the cache), so a run records exactly which inputs judged it."""
    from codesieve.core.benchmarks import load_benchmark

    rows = augment_benchmark(bench, problems, cfg, cache_dir, workers=workers)
    text = "".join(json.dumps(row) + "\n" for row in rows)
    path = _cache_root(cache_dir, bench, cfg) / f"tasks-{hashlib.sha256(text.encode()).hexdigest()[:16]}.jsonl"
    if not path.is_file():
        write_tasks(rows, path)
    loaded = load_benchmark(str(path))
    name = f"{bench.name}+augmented"
    return Benchmark(name=name, version=loaded.version, source=bench.source, problems=loaded.problems)


def write_tasks(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Write the rows as JSONL, whole or not at all (temp file beside it, then rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
