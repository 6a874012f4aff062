"""The semgrep adapter: runs the semgrep CLI once over a folder of samples with a local rule file.

Offline by construction: the only `--config` is a local file, `--metrics=off`, the version check is
disabled (flag and environment), `--oss-only` (no Pro engine download), and the child gets a cleared
environment with its own empty HOME (no login token, no settings file of the user's). Start-up costs
seconds, so callers batch: one run per language over every sample of that language.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "SemgrepError",
    "SemgrepMissing",
    "SemgrepRuleError",
    "run_semgrep",
    "semgrep_version",
    "semgrep_command",
    "semgrep_env",
]

_OFFLINE_ENV = {"SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off"}


class SemgrepError(RuntimeError):
    """semgrep failed (fatal exit, unreadable output, timeout)."""


class SemgrepMissing(SemgrepError):
    """No semgrep executable where CODESIEVE_SEMGREP (default: `semgrep` on PATH) points."""


class SemgrepRuleError(SemgrepError):
    """semgrep refused rules of the rule file (e.g. a pattern this semgrep version cannot parse)."""

    def __init__(self, message: str, rule_ids: list[str]) -> None:
        super().__init__(message)
        self.rule_ids = rule_ids


def semgrep_command(binary: str, config: Path, target: Path, *, jobs: int = 1, timeout_s: int = 30) -> list[str]:
    """The argument vector: a local rule file only, no metrics, no version check, open-source engine."""
    return [
        binary,
        "scan",
        "--config",
        str(config),
        "--metrics=off",
        "--disable-version-check",
        "--oss-only",
        "--json",
        "--quiet",
        "--no-git-ignore",
        "--jobs",
        str(jobs),
        "--timeout",
        str(timeout_s),  # per file and rule: a pathological sample cannot stall the run
        str(target),
    ]


def semgrep_env(home: Path) -> dict[str, str]:
    """The child's whole environment: PATH, an empty HOME, and the offline switches."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8", **_OFFLINE_ENV}


def _resolve(binary: str) -> str:
    found = shutil.which(binary)
    if found is None:
        raise SemgrepMissing(
            f"semgrep not found ({binary!r}): install it as a tool (`pipx install semgrep==1.185.0`) and put it "
            "on PATH, or set CODESIEVE_SEMGREP to its path"
        )
    return found


def semgrep_version(binary: str) -> str:
    """`semgrep --version` (recorded with every run: which rules parse depends on it)."""
    argv = [_resolve(binary), "--version", "--disable-version-check"]
    with tempfile.TemporaryDirectory(prefix="codesieve-semgrep-home-") as home:
        try:
            proc = subprocess.run(argv, env=semgrep_env(Path(home)), capture_output=True, text=True, timeout=60)
        except (subprocess.TimeoutExpired, OSError) as exc:
            raise SemgrepMissing(f"semgrep could not be started ({binary!r}): {exc}") from None
    if proc.returncode != 0:
        raise SemgrepMissing(f"semgrep ({binary!r}) does not run: exit {proc.returncode}")
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "unknown"


def run_semgrep(binary: str, config: Path, target: Path, *, jobs: int = 1, timeout_s: float = 600.0) -> dict[str, Any]:
    """Run semgrep over every file under `target`; return its JSON report.

    Args:
        binary: the executable (name on PATH or path).
        config: a local rule file (never a registry name).
        target: a folder of sample files.
        jobs: semgrep's parallel jobs.
        timeout_s: wall-clock limit for the whole run.
    Returns:
        {"results": [one dict per match], "errors": [e.g. fragments it could not parse]}.
    Raises:
        SemgrepMissing: no such executable. SemgrepError: fatal exit, timeout or unreadable output.
    """
    if not config.is_file():
        raise SemgrepError(f"semgrep rule file not found: {config}")
    argv = semgrep_command(_resolve(binary), config, target, jobs=jobs)
    with tempfile.TemporaryDirectory(prefix="codesieve-semgrep-home-") as home:
        try:
            proc = subprocess.run(
                argv, env=semgrep_env(Path(home)), capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            raise SemgrepError(f"semgrep did not finish within {timeout_s:.0f} s on {target}") from None
        except OSError as exc:
            raise SemgrepMissing(f"semgrep could not be started ({binary!r}): {exc.strerror}") from None
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        report = None
    # 0: ran (matches or not); anything else is fatal (2: error, 7: bad rules, ...).
    if proc.returncode != 0:
        bad_rules = [
            str(e.get("rule_id", ""))
            for e in (report or {}).get("errors", [])
            if e.get("type") == "Rule parse error" and e.get("rule_id")
        ]
        if bad_rules:
            raise SemgrepRuleError(f"semgrep cannot parse rule(s) {', '.join(bad_rules)}", bad_rules)
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SemgrepError(f"semgrep exited with {proc.returncode}: {tail[0][:300]}")
    if report is None:
        raise SemgrepError("semgrep printed no JSON report")
    return {"results": report.get("results", []), "errors": report.get("errors", [])}
