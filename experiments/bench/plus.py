"""HumanEval+ judged the way EvalPlus defines it: differential testing against the canonical solution.

    dataset row (base_input, plus_input, contract, atol)
        -> reference oracle (plus_reference.py), computed once in the sandbox and cached:
           prompt+contract+canonical drops inputs that violate the contract (or make it raise),
           prompt+canonical gives the expected output and its own time for each kept input
        -> per sample and split: one sandboxed process runs the candidate on every input of the
           split (wire.serve_batch, per-input SIGALRM limit inside, the whole-run deadline outside);
           its outputs come out as plain data and are compared here, with EvalPlus's rules
           (exact ==, else np.allclose with the task's atol, 1e-6 once an expected value is a
           float; the find_zero oracle |poly(xs, x)| <= atol); the expected values never enter.

The facts follow evalplus 0.3 (`evalplus/evaluate.py`, `evalplus/eval/__init__.py`, `config.py`);
the code is ours. A sample passes HumanEval+ when it passes the base and the plus inputs.
"""

from __future__ import annotations

import ast
import json
import logging
import marshal
import math
import textwrap
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from codesieve.core.benchmarks import Benchmark
from experiments.bench import wire
from experiments.bench.harness import PYTHON_EXECUTABLE, SampleVerdict, _category_for_exception, _lost_category
from experiments.bench.pass_at_k import compute_pass_at_k
from experiments.bench.plus_cache import read_expected
from experiments.bench.sandbox import SandboxConfig, SandboxSession

__all__ = [
    "ORACLE_VERSION",
    "PlusTask",
    "SplitOracle",
    "is_floats",
    "is_plus_benchmark",
    "effective_atol",
    "guarded_program",
    "judge_plus",
    "outputs_match",
    "plus_summary",
    "time_limits",
]

logger = logging.getLogger(__name__)

# Bump when a change can change an expected output, a dropped input or a time limit: the cache of
# reference outputs is keyed by it and by the dataset's content hash.
ORACLE_VERSION = "codesieve-plus/2"
SPLITS = ("base", "plus")
# evalplus/config.py: DEFAULT_MIN_TIME_LIMIT = 1.0 s, DEFAULT_GT_TIME_LIMIT_FACTOR = 4.0: an input
# may take max(1 s, 4 x the canonical solution's own time on it).
MIN_TIME_LIMIT_S = 1.0
GT_TIME_LIMIT_FACTOR = 4.0
# evalplus/eval/__init__.py: the whole split may take min(EVALPLUS_TIMEOUT_PER_TASK = 60, sum of the
# per-input limits) + 1 s. We add the sandbox's own start-up on top.
SPLIT_TIMEOUT_CAP_S = 60.0
SANDBOX_START_S = 2.0
# is_floats(expected) with atol 0 turns on np.allclose(atol=1e-6, rtol=1e-7) for the rest of the split.
FLOAT_ATOL = 1e-6
RTOL = 1e-7
OUTPUT_LIMIT_SLACK_BYTES = 8 << 20
_GUEST_ARGV = [PYTHON_EXECUTABLE, "-I", "-S", "-B", "/work/guest.py"]
_GUEST_SOURCE = Path(wire.__file__).read_bytes()
_BATCH_PATH = "/work/batch.bin"


# ------------------------------------------------------------------ pure: comparison and limits


def is_floats(x: Any) -> bool:
    """EvalPlus's `is_floats`: a float, or a non-empty list/tuple of floats only."""
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    return False


def _poly(xs: Sequence[float], x: float) -> float:
    return sum(coeff * math.pow(x, i) for i, coeff in enumerate(xs))


def _find_zero_oracle(inp: Sequence[Any], out: Any, atol: float) -> bool:
    """HumanEval/32: any zero will do; EvalPlus checks |poly(xs, out)| <= atol (1e-4 in the data)."""
    try:
        return bool(abs(_poly(inp[0], out)) <= atol)
    except Exception:  # noqa: BLE001 - a non-number (or an overflow) is a wrong answer
        return False


# Tasks whose answer is not unique: task_id -> oracle(inputs, output, atol). EvalPlus keys these by
# entry point within the dataset; a task id cannot misfire on another benchmark's function.
SPECIAL_ORACLES: dict[str, Callable[[Sequence[Any], Any, float], bool]] = {
    "HumanEval/32": _find_zero_oracle,
}


def outputs_match(task_id: str, inp: Sequence[Any], out: Any, exp: Any, atol: float) -> bool:
    """EvalPlus's comparison of one output (`unsafe_execute`), with `atol` from `effective_atol`.

    Exact `==` passes; otherwise, with a non-zero atol, the types (and lengths) must agree and
    np.allclose(out, exp, rtol=1e-7, atol) must hold. Special-oracle tasks use their oracle only.
    """
    special = SPECIAL_ORACLES.get(task_id)
    if special is not None:
        return special(inp, out, atol)
    if out == exp:
        return True
    if atol == 0 or type(out) is not type(exp):
        return False
    if isinstance(exp, (list, tuple)) and len(out) != len(exp):
        return False
    try:
        return bool(np.allclose(out, exp, rtol=RTOL, atol=atol))
    except Exception:  # noqa: BLE001 - ragged or non-numeric values are not close
        return False


def effective_atol(task_atol: float, position: int, first_float: int | None) -> float:
    """The atol EvalPlus compares input `position` of a split with.

    Its loop sets atol = 1e-6 when the task's atol is 0 and the expected output is floats
    (`is_floats`), and keeps it for the rest of the split: so from the first such input on.
    """
    if task_atol != 0:
        return task_atol
    return FLOAT_ATOL if first_float is not None and position >= first_float else 0.0


def time_limits(reference_ns: Sequence[int]) -> list[float]:
    """Per-input limits: max(MIN_TIME_LIMIT_S, GT_TIME_LIMIT_FACTOR x the reference's time)."""
    return [max(MIN_TIME_LIMIT_S, GT_TIME_LIMIT_FACTOR * ns / 1e9) for ns in reference_ns]


def split_timeout(limits: Sequence[float]) -> float:
    """The whole split's wall-clock budget: min(60 s, sum of limits) + 1 s, plus sandbox start-up."""
    return min(SPLIT_TIMEOUT_CAP_S, sum(limits)) + 1.0 + SANDBOX_START_S


def guarded_program(prompt: str, solution: str, contract: str, entry_point: str) -> str:
    """The reference with the task's precondition (`contract`: asserts on the arguments) run first.

    HumanEval-style rows (the prompt ends inside the function, the solution is its body): prompt +
    contract + solution. MBPP-style rows (the solution defines the whole function): the contract goes
    at the start of the function's body, in the body's own indentation (tabs too), as EvalPlus's
    `insert_contract_into_code` puts it; before that function, the arguments would not exist yet.
    ValueError for a one-line function (no body line to put it before).
    """
    if not contract.strip():
        return prompt + solution
    try:
        tree = ast.parse(solution)
    except (SyntaxError, ValueError):  # a function body (HumanEval-style), or nothing we can place it in
        return prompt + contract + solution
    func = next(
        (n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == entry_point),
        None,
    )
    if func is None:
        return prompt + contract + solution
    first = func.body[0].lineno
    if first == func.lineno or any(d.lineno >= first for d in func.decorator_list):
        raise ValueError(f"{entry_point}: cannot place the contract in a one-line function")
    lines = solution.splitlines(keepends=True)
    body_line = lines[first - 1]
    indent = body_line[: len(body_line) - len(body_line.lstrip())]
    guard = "".join(indent + line if line.strip() else line for line in textwrap.dedent(contract).splitlines(True))
    guard += "" if guard.endswith("\n") else "\n"
    return prompt + "".join(lines[: first - 1]) + guard + "".join(lines[first - 1 :])


# ------------------------------------------------------------------ data


@dataclass(frozen=True)
class SplitOracle:
    """The kept inputs of one split with their time limits; expected outputs stay in the cache file."""

    index: tuple[int, ...]  # position of each kept input in the dataset's list
    inputs: tuple[Any, ...] = field(repr=False)  # argument lists (JSON values), in dataset order
    limits_s: tuple[float, ...] = field(repr=False)
    first_float: int | None = None  # first kept position whose expected output is floats (is_floats)
    dropped: tuple[tuple[int, str], ...] = ()  # (position, why) of inputs the reference rejected
    output_bytes: int = 0  # size of the reference's answers: a correct candidate writes about as much


@dataclass(frozen=True)
class PlusTask:
    """What the judge needs for one task. Picklable and small: the expected outputs (hundreds of MB
    for a few tasks) are read from `expected_file` by the worker that judges, one task at a time."""

    task_id: str
    entry_point: str
    prompt: str
    atol: float
    base: SplitOracle
    plus: SplitOracle
    expected_file: Path

    def split(self, name: str) -> SplitOracle:
        return self.base if name == "base" else self.plus


def is_plus_benchmark(bench: Benchmark) -> bool:
    """EvalPlus-format data: every row has base and plus inputs and a canonical solution."""
    return all({"base_input", "plus_input", "canonical_solution"} <= p.original.keys() for p in bench.problems)


# ------------------------------------------------------------------ sandbox batches


class _BatchLost(Exception):  # noqa: N818
    def __init__(self, category: str, detail: str) -> None:
        super().__init__(detail)
        self.category = category
        self.detail = detail


def _batch_file(
    entry_point: str, inputs: Sequence[Any], limits: Sequence[float], *, stop: bool, discard: bool = False
) -> bytes:
    encoded = [wire.encode_value(list(args)) for args in inputs]
    batch = {"fn": entry_point, "inputs": encoded, "limits": list(limits), "stop": stop, "discard": discard}
    return marshal.dumps(batch)


def _run_batch(program: str, batch: bytes, cfg: SandboxConfig) -> Generator[bytes, None, None]:
    """Run `program` in a fresh sandbox and yield its answer line per input, in order.

    Raises _BatchLost for a program that does not load, dies, hangs past the deadline or garbles
    the protocol. Closing the generator early (the judge saw a wrong answer) kills the sandbox.
    """
    files = {"guest.py": _GUEST_SOURCE, "candidate.py": program.encode(), "batch.bin": batch}
    with SandboxSession(_GUEST_ARGV, files=files, cfg=cfg) as session:
        hello = _parse(_read_line(session))
        if "load_error" in hello:
            kind, message = str(hello["load_error"]), str(hello.get("message", ""))[:300]
            if kind in ("SyntaxError", "IndentationError", "TabError"):
                raise _BatchLost("syntax_error", message)
            raise _BatchLost(_category_for_exception(kind, message), f"{kind}: {message}")
        if hello.get("ready") is not True or not session.send(wire.frame_request({"batch_file": _BATCH_PATH})):
            raise _BatchLost(*_lost_category(session))
        n = 0
        while True:
            line = _read_line(session)
            if line.startswith(b'{"done":'):
                return
            if not line.startswith(b'{"i":%d,' % n):
                raise _BatchLost("crash", "answers out of order")
            n += 1
            yield line


def _read_line(session: SandboxSession) -> bytes:
    line = session.read_line()
    if line is None:
        raise _BatchLost(*_lost_category(session))
    return line


def _parse(line: bytes) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):
        raise _BatchLost("crash", "garbled answer") from None
    if type(message) is not dict:
        raise _BatchLost("crash", "garbled answer")
    return message


def _value_text(line: bytes, n: int) -> bytes | None:
    """The raw wire text of VALUE in the guest's `{"i":n,"ok":VALUE,"ns":T}` line (dump_json's key
    order), or None for any other line. JSON strings escape quotes, so `,"ns":` cannot occur inside."""
    prefix = b'{"i":%d,"ok":' % n
    end = line.rfind(b',"ns":')
    if not line.startswith(prefix) or end < len(prefix):
        return None
    return line[len(prefix) : end]


def _decode_text(text: bytes) -> Any:
    try:
        return wire.decode_value(json.loads(text))
    except (wire.WireError, RecursionError, ValueError) as exc:
        raise _BatchLost("crash", f"invalid result: {exc}") from None


# ------------------------------------------------------------------ judging one sample


@dataclass(frozen=True)
class SplitResult:
    """EvalPlus's status ("pass" | "fail" | "timeout") of one split, with our failure category."""

    status: str
    category: str
    failing: tuple[int, ...] = ()  # dataset positions of failing inputs (the first one unless details)
    detail: str = ""


def _short(value: Any, limit: int = 80) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4300-digit repr limit
        text = f"<{type(value).__name__} too large to print>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(args: Sequence[Any]) -> str:
    text = ", ".join(_short(a, 200) for a in args)
    return text if len(text) <= 200 else text[:197] + "..."


def _judge_answer(task: PlusTask, oracle: SplitOracle, n: int, line: bytes, expected: bytes) -> tuple[str, str] | None:
    """None when answer `n` is right, else (category, what was wrong)."""
    text = _value_text(line, n)
    # Identical wire text means equal values (one canonical encoder on both sides), except NaN, which
    # EvalPlus never counts as equal; special oracles look at the value whatever the reference said.
    if text is not None and text == expected and b"nan" not in text and task.task_id not in SPECIAL_ORACLES:
        return None
    if text is not None:
        atol = effective_atol(task.atol, n, oracle.first_float)
        out, exp = _decode_text(text), _decode_text(expected)
        if outputs_match(task.task_id, oracle.inputs[n], out, exp, atol):
            return None
        # the report (outside the sandbox) may show the expected value; the candidate never saw it
        return ("wrong_answer", f"got {_short(out)}, expected {_short(exp)}")
    message = _parse(line)
    if message.get("timeout") is True:
        return ("timeout", f"over its {oracle.limits_s[n]:.2f} s limit")
    if "exc" in message:
        kind, text_ = str(message.get("exc")), str(message.get("message", ""))
        return (_category_for_exception(kind, text_), f"{kind}: {text_}"[:200])
    raise _BatchLost("crash", "garbled answer")


def judge_split(
    task: PlusTask, split: str, program: str, expected: Sequence[bytes], cfg: SandboxConfig, *, details: bool
) -> SplitResult:
    """Run the candidate on one split's inputs in one sandboxed process and compare outside."""
    oracle = task.split(split)
    if not oracle.inputs:
        return SplitResult("pass", "passed")
    timeout_s = split_timeout(oracle.limits_s)
    cfg = replace(
        cfg,
        timeout_s=timeout_s,
        cpu_s=max(cfg.cpu_s, math.ceil(timeout_s) + 1),
        # a correct answer must fit: room for twice the reference's output (long strings, big lists)
        output_limit_bytes=max(cfg.output_limit_bytes, OUTPUT_LIMIT_SLACK_BYTES + 2 * oracle.output_bytes),
    )
    batch = _batch_file(task.entry_point, oracle.inputs, oracle.limits_s, stop=not details)
    failing: list[int] = []
    first: tuple[str, str] | None = None
    answered = 0
    answers = _run_batch(program, batch, cfg)
    try:
        for n, line in enumerate(answers):
            answered += 1
            why = _judge_answer(task, oracle, n, line, expected[n])
            if why is None:
                continue
            failing.append(oracle.index[n])
            first = first or (why[0], f"{split} input #{oracle.index[n]} ({_describe(oracle.inputs[n])}): {why[1]}")
            if not details:
                break
    except _BatchLost as lost:
        # The program itself failed: at load (every input fails) or mid-run (this input and the rest).
        status = "timeout" if lost.category == "timeout" else "fail"
        if answered < len(oracle.inputs) and (details or first is None):
            failing.append(oracle.index[answered])
            where = f"{split} input #{oracle.index[answered]} ({_describe(oracle.inputs[answered])})"
            first = first or (lost.category, f"{where}: {lost.detail}"[:300])
        first = first or (lost.category, lost.detail)
        return SplitResult(status, first[0], tuple(failing), first[1])
    finally:
        answers.close()  # a wrong answer ends the run: the sandbox is killed now, not at garbage collection
    if first is not None:
        return SplitResult("fail", first[0], tuple(failing), first[1])
    if answered < len(oracle.inputs):  # "done" before every input was answered
        return SplitResult("fail", "crash", (oracle.index[answered],), f"{split}: answered {answered} inputs")
    return SplitResult("pass", "passed")


def judge_plus(task: PlusTask, completion: str, cfg: SandboxConfig, details: bool = False) -> SampleVerdict:
    """Judge one completion on HumanEval+: base inputs, then plus inputs, each in its own sandbox.

    Both splits always run (as EvalPlus runs them), so base and plus pass@k can be reported side by
    side; the sample passes when both pass.
    """
    started = time.monotonic()
    program = task.prompt + completion + "\n"  # EvalPlus: problem["prompt"] + sample["completion"]
    expected = read_expected(task.expected_file)
    results = {split: judge_split(task, split, program, expected[split], cfg, details=details) for split in SPLITS}
    base, plus = results["base"], results["plus"]
    failed = next((r for r in (base, plus) if r.status != "pass"), None)
    extra = {
        "base_status": base.status,
        "plus_status": plus.status,
        "base_fail_inputs": list(base.failing),
        "plus_fail_inputs": list(plus.failing),
    }
    return SampleVerdict(
        passed=failed is None,
        category="passed" if failed is None else failed.category,
        detail="" if failed is None else failed.detail,
        duration_s=time.monotonic() - started,
        extra=extra,
    )


# ------------------------------------------------------------------ summary


def plus_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Base and plus pass@k side by side, and the failing input of each failed sample."""
    base: dict[str, list[bool]] = {}
    plus: dict[str, list[bool]] = {}
    for row in sorted(rows, key=lambda r: (r["task_id"], r["sample_idx"])):
        base.setdefault(row["task_id"], []).append(row.get("base_status") == "pass")
        plus.setdefault(row["task_id"], []).append(bool(row["passed"]))
    as_pct = {name: compute_pass_at_k(dict(counts)).pass_at_k for name, counts in (("base", base), ("plus", plus))}
    return {
        "pass_at_k_base": {f"pass@{k}": round(100.0 * v, 2) for k, v in as_pct["base"].items()},
        "pass_at_k_plus": {f"pass@{k}": round(100.0 * v, 2) for k, v in as_pct["plus"].items()},
        "failures": [
            {"task_id": r["task_id"], "sample_idx": r["sample_idx"], "category": r["category"], "detail": r["detail"]}
            for r in sorted(rows, key=lambda r: (r["task_id"], r["sample_idx"]))
            if not r["passed"] and not r.get("blocked")
        ],
    }


def render_plus_markdown(summary: dict[str, Any]) -> list[str]:
    """Markdown lines: base and plus pass@k side by side, then each failed sample's failing input."""
    base, plus = summary["pass_at_k_base"], summary["pass_at_k_plus"]
    lines = [
        "| metric | base tests (%) | base + plus tests (%) |",
        "| --- | --- | --- |",
        *[f"| {k} | {base[k]:.2f} | {plus[k]:.2f} |" for k in plus],
        "",
        "| failed sample | outcome | first failing input |",
        "| --- | --- | --- |",
    ]
    for f in summary["failures"]:
        detail = str(f["detail"]).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {f['task_id']} #{f['sample_idx']} | {f['category']} | {detail} |")
    return [*lines, ""]
