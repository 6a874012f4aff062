"""The repository under evaluation: is it one, which Python files it has, and which version it is.

The version is the git commit (with "+dirty" and a hash of the changes when the work tree differs
from it) or, for a plain folder (an unpacked sdist), a content hash of its Python files and test
configuration. A run refuses tasks mined from another version.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from experiments.bench.repo._git import git as _git

__all__ = ["RepoError", "SKIP_DIRS", "is_test_file", "python_files", "repo_version", "validate_repo"]

# Never part of the working copy, nor searched for functions (_driver.py skips the same).
SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", "node_modules", "__pycache__", ".eggs",
     ".pytest_cache", ".mypy_cache", ".ruff_cache", "build", "dist"}
)  # fmt: skip
_CONFIG_FILES = ("pyproject.toml", "setup.cfg", "pytest.ini", "tox.ini", "conftest.py")


class RepoError(ValueError):
    """The repository cannot be evaluated; the message says why, in one line."""


def python_files(repo: Path) -> list[Path]:
    """The repository's .py files (relative paths, sorted), skipping VCS, caches and environments."""
    out = []
    for path in repo.rglob("*.py"):
        rel = path.relative_to(repo)
        if not any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts[:-1]) and path.is_file():
            out.append(rel)
    return sorted(out)


def is_test_file(rel: Path) -> bool:
    """pytest's default discovery names, conftest, and anything under a tests/ or testing/ folder."""
    name = rel.name
    return (
        name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
        or any(part in ("tests", "test", "testing") for part in rel.parts[:-1])
    )


def validate_repo(repo: Path) -> list[Path]:
    """Check `repo` is a folder with Python sources and Python tests; return its .py files.

    Raises:
        RepoError: not a folder, no Python files, or no test files.
    """
    if not repo.exists():
        raise RepoError(f"{repo}: no such repository")
    if not repo.is_dir():
        raise RepoError(f"{repo}: not a repository (not a folder)")
    files = python_files(repo)
    if not files:
        raise RepoError(f"{repo}: not a Python repository (no .py files)")
    if not any(is_test_file(f) and f.name != "conftest.py" for f in files):
        raise RepoError(f"{repo}: no Python tests (no test_*.py or *_test.py files)")
    if all(is_test_file(f) for f in files):
        raise RepoError(f"{repo}: only test files, no code to complete")
    return files


def _content_hash(repo: Path, files: list[Path]) -> str:
    h = hashlib.sha256()
    extra = [Path(n) for n in _CONFIG_FILES if (repo / n).is_file() and Path(n) not in files]
    for rel in sorted(files + extra):
        h.update(str(rel).encode() + b"\0" + (repo / rel).read_bytes() + b"\0")
    return h.hexdigest()[:16]


def repo_version(repo: Path, files: list[Path]) -> str:
    """`git:<commit>[+dirty:<hash>]` inside a git work tree whose top is `repo`, else `sha256:<hash>`."""
    top = _git(repo, "rev-parse", "--show-toplevel")
    if top is not None and Path(top.strip()).resolve() == repo.resolve():
        commit = (_git(repo, "rev-parse", "HEAD") or "").strip()
        if commit:
            status = _git(repo, "status", "--porcelain", "--untracked-files=no")
            if status:
                return f"git:{commit}+dirty:{_content_hash(repo, files)}"
            return f"git:{commit}"
    return f"sha256:{_content_hash(repo, files)}"
