"""Adapter: one run of a repository's pytest suite over a working copy, in the bubblewrap sandbox.

The repository and the test environment (site-packages folders holding pytest, coverage and the
repository's test dependencies) are mounted read-only at /repo and /env/<i>; the guest (`_driver.py`)
copies the repository into a size-capped tmpfs, writes the sample's file over the copy, runs pytest
there with our probe plugin (`_probe.py`), and prints one JSON line: pytest's exit code, each test's
outcome and duration, and (when mining) which tests executed which lines. Everything else the run
did (files written, processes left, sockets) dies with the sandbox: no network, pid namespace, cgroup.

The tests run in the same process as the candidate's code, as in any repository's own CI: a sample
written to forge its report could (the summary says so). A pass needs pytest's exit code 0 *and* the
probe's report listing every requested test as passed, so exiting early (`os._exit(0)`) fails.
"""

from __future__ import annotations

import json
import os
import site
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.bench.harness import PYTHON_EXECUTABLE
from experiments.bench.sandbox import SandboxConfig, run_sandboxed

__all__ = ["ExecLimits", "TestRun", "check_mountable", "default_env_paths", "run_tests"]

_HERE = Path(__file__).parent
_DRIVER = (_HERE / "_driver.py").read_bytes()
_PROBE = (_HERE / "_probe.py").read_bytes()
# pytest's exit codes (pytest.ExitCode): 0 ok, 1 tests failed, 2 interrupted, 3 internal, 4 usage, 5 none collected
EXIT_OK, EXIT_FAILED, EXIT_NONE_COLLECTED = 0, 1, 5
# Where the repository and the environment appear inside (the sandbox's /work is its own tmpfs).
REPO_MOUNT = "/repo"
ENV_MOUNT = "/env"


@dataclass(frozen=True)
class ExecLimits:
    """Sandbox limits for one test run (a repository's suite needs more than one HumanEval program)."""

    timeout_s: float = 60.0
    memory_mb: int = 2048
    tmpfs_mb: int = 256  # the working copy lives here
    nproc: int = 128
    nofile: int = 512


@dataclass(frozen=True)
class TestRun:
    """How one run ended. `status` is the sandbox's ("ok" when the guest reported), `exit` pytest's."""

    status: str
    exit: int | None
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)
    coverage: dict[str, dict[str, list[int]]] | None = None
    tail: str = ""
    duration_s: float = 0.0

    def passed(self, node_ids: Sequence[str]) -> bool:
        """True when pytest exited 0 and reported every one of `node_ids` as passed."""
        return (
            self.status == "ok"
            and self.exit == EXIT_OK
            and all(self.tests.get(n, {}).get("outcome") == "passed" for n in node_ids)
        )

    def first_error(self) -> str:
        """The first failing test's crash line ("TypeError: ..."), or the output's tail."""
        for node, row in self.tests.items():
            if row.get("outcome") == "failed":
                return f"{node}: {row.get('error', '')}"
        return self.tail.strip().splitlines()[-1] if self.tail.strip() else ""


def default_env_paths() -> tuple[str, ...]:
    """This interpreter's site-packages: pytest and coverage are there (the sandbox runs /usr/bin/python3)."""
    return tuple(p for p in site.getsitepackages() if Path(p).is_dir())


def check_mountable(path: Path) -> None:
    """Raise ValueError when the sandbox (an unprivileged host uid when we are root) cannot read `path`.

    bwrap mounts the repository and environment as that user, so every folder above them must be
    enterable by others (a repository under /root, mode 0700, is not).
    """
    if os.geteuid() != 0:
        return
    for folder in [path, *path.parents]:
        if folder.exists() and not folder.stat().st_mode & stat.S_IXOTH:
            raise ValueError(
                f"{path}: the sandbox runs as an unprivileged user and cannot enter {folder} "
                f"(mode {stat.S_IMODE(folder.stat().st_mode):o}); move the repository or chmod o+rx"
            )


def _sandbox_cfg(repo: Path, env_paths: Sequence[str], limits: ExecLimits) -> SandboxConfig:
    return SandboxConfig(
        timeout_s=limits.timeout_s,
        cpu_s=max(1, int(limits.timeout_s)),
        address_space_mb=4096,
        nproc=limits.nproc,
        nofile=limits.nofile,
        fsize_mb=64,
        tmpfs_mb=limits.tmpfs_mb,
        memory_mb=limits.memory_mb,
        output_limit_bytes=64 << 20,  # coverage maps of a whole suite
        ro_mounts=((str(repo), REPO_MOUNT), *((p, f"{ENV_MOUNT}/{i}") for i, p in enumerate(env_paths))),
    )


def run_tests(
    repo: Path,
    pytest_args: Sequence[str],
    *,
    env_paths: Sequence[str],
    overrides: Mapping[str, str] | None = None,
    coverage: bool = False,
    limits: ExecLimits | None = None,
) -> TestRun:
    """Run pytest with `pytest_args` over a copy of `repo` whose files in `overrides` are replaced.

    Args:
        repo: the repository (absolute path; mounted read-only).
        pytest_args: arguments after `python -m pytest` (options, node ids).
        env_paths: site-packages folders with pytest, coverage and the test dependencies.
        overrides: {path relative to repo: new text} written over the copy.
        coverage: record which tests execute which lines (mining).
        limits: sandbox limits; `timeout_s` bounds the whole run.
    """
    limits = limits or ExecLimits()
    names = {rel: f"override_{i}" for i, rel in enumerate(sorted(overrides or {}))}
    spec = {
        "repo": REPO_MOUNT,
        "overrides": names,
        "pytest": list(pytest_args),
        "coverage": coverage,
        "env_paths": [f"{ENV_MOUNT}/{i}" for i in range(len(env_paths))],
    }
    files = {
        "driver.py": _DRIVER,
        "codesieve_probe.py": _PROBE,
        "spec.json": json.dumps(spec).encode(),
        "empty.rc": b"[run]\n",
    }
    files.update({names[rel]: text.encode("utf-8", "surrogatepass") for rel, text in (overrides or {}).items()})
    argv = [PYTHON_EXECUTABLE, "-B", "-S", "/work/driver.py"]
    result = run_sandboxed(argv, files=files, cfg=_sandbox_cfg(repo, env_paths, limits))
    lines = [ln for ln in result.stdout.decode("utf-8", "replace").splitlines() if ln.strip()]
    try:
        body = json.loads(lines[-1]) if lines else None
    except ValueError:
        body = None
    if result.status != "ok" or not isinstance(body, dict):
        status = result.status if result.status != "ok" else "crash"
        tail = (result.stderr_tail or result.stdout_tail)[-2000:]
        return TestRun(status=status, exit=result.exit_code, tail=tail, duration_s=result.duration_s)
    report = body.get("report") or {}
    return TestRun(
        status="ok" if body.get("report") is not None else "no_report",
        exit=body.get("exit"),
        tests=report.get("tests") or {},
        coverage=body.get("coverage"),
        tail=str(body.get("tail", ""))[-2000:] + str(body.get("coverage_error", "")),
        duration_s=result.duration_s,
    )
