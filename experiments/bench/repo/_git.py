"""Adapter: read-only git queries on the repository under evaluation (its commit, whether it is dirty)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

__all__ = ["git"]


def git(repo: Path, *args: str) -> str | None:
    """stdout of `git -C repo ARGS`, or None when git is missing or the command fails."""
    exe = shutil.which("git")
    if exe is None:
        return None
    try:
        proc = subprocess.run([exe, "-C", str(repo), *args], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None
