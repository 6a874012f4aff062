"""Source-file corpus of the local model: find *.py files, split train/held-out, read them.

The split is file-level and decided by a hash of the relative path alone, so a file is held out on
every machine and in every run, whatever else the directory contains.
"""

from __future__ import annotations

import hashlib
import logging
import sysconfig
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# Directories under a Python prefix that are not the standard library itself.
_SKIPPED_DIRS = frozenset({"site-packages", "dist-packages", "__pycache__"})


@dataclass(frozen=True)
class CorpusSplit:
    """Texts of the train and held-out files (relative paths kept for the record)."""

    train_paths: tuple[str, ...]
    train_texts: tuple[str, ...]
    heldout_paths: tuple[str, ...]
    heldout_texts: tuple[str, ...]

    @property
    def train_chars(self) -> int:
        return sum(len(t) for t in self.train_texts)

    @property
    def heldout_chars(self) -> int:
        return sum(len(t) for t in self.heldout_texts)


def default_corpus_dir() -> Path:
    """The running Python's standard library source."""
    return Path(sysconfig.get_paths()["stdlib"])


def path_hash(relpath: str) -> int:
    """A stable 64-bit hash of a relative POSIX path (sha256 prefix; not Python's salted hash())."""
    return int.from_bytes(hashlib.sha256(relpath.encode("utf-8")).digest()[:8], "big")


def is_heldout(relpath: str, heldout_per_mille: int) -> bool:
    return path_hash(relpath) % 1000 < heldout_per_mille


def list_source_files(root: Path) -> list[str]:
    """Relative POSIX paths of every *.py file under root, sorted, skipping installed packages."""
    found = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if _SKIPPED_DIRS.intersection(rel.parts[:-1]) or not path.is_file():
            continue
        found.append(rel.as_posix())
    return sorted(found)


def _read_text(path: Path, max_file_chars: int) -> str | None:
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # test fixtures in other encodings, unreadable files: not training data
    if not text.strip() or len(text) > max_file_chars:
        return None
    return text


def _take(root: Path, relpaths: list[str], *, max_chars: int, max_file_chars: int) -> list[tuple[str, str]]:
    taken: list[tuple[str, str]] = []
    total = 0
    # Hash order, not path order: a budget-capped sample then spans the whole tree.
    for rel in sorted(relpaths, key=lambda r: (path_hash(r), r)):
        if total >= max_chars:
            break
        text = _read_text(root / rel, max_file_chars)
        if text is None:
            continue
        taken.append((rel, text))
        total += len(text)
    return taken


def load_corpus(
    root: Path,
    *,
    heldout_per_mille: int,
    max_train_chars: int,
    max_heldout_chars: int,
    max_file_chars: int,
) -> CorpusSplit:
    """Read the corpus under root and split it by file.

    Raises:
        ValueError: no usable *.py file, or too few to have both a train and a held-out file.
    """
    if not root.is_dir():
        raise ValueError(f"corpus directory does not exist: {root}")
    relpaths = list_source_files(root)
    heldout = [r for r in relpaths if is_heldout(r, heldout_per_mille)]
    train = [r for r in relpaths if not is_heldout(r, heldout_per_mille)]
    if not heldout and len(train) >= 2:
        # A tiny corpus where no path hashed into the held-out range: hold out the lowest hash,
        # which is still a function of the paths alone.
        first = min(train, key=lambda r: (path_hash(r), r))
        train.remove(first)
        heldout.append(first)
    train_files = _take(root, train, max_chars=max_train_chars, max_file_chars=max_file_chars)
    heldout_files = _take(root, heldout, max_chars=max_heldout_chars, max_file_chars=max_file_chars)
    if not train_files or not heldout_files:
        raise ValueError(
            f"corpus {root} is too small: need at least 2 readable UTF-8 *.py files "
            f"(found {len(train_files)} for training, {len(heldout_files)} held out)"
        )
    split = CorpusSplit(
        train_paths=tuple(r for r, _ in train_files),
        train_texts=tuple(t for _, t in train_files),
        heldout_paths=tuple(r for r, _ in heldout_files),
        heldout_texts=tuple(t for _, t in heldout_files),
    )
    logger.info(
        "corpus %s: %d train files (%d chars), %d held-out files (%d chars)",
        root,
        len(split.train_paths),
        split.train_chars,
        len(split.heldout_paths),
        split.heldout_chars,
    )
    return split
