"""The HumanEval+ reference cache's file format: one gzip file per task, written whole or not at all.

Line 1 is a JSON header (per split: the kept input indices, their reference times, the dropped inputs
and why); then one line per kept input with its expected output's wire text, base split first.
plus_reference.py computes and writes the entries; plus.py's judge reads the expected outputs.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def write_entry(path: Path, header: dict[str, Any], texts: Sequence[bytes]) -> None:
    """Write one task's entry atomically (a temp file beside it, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with gzip.open(tmp, "wb", compresslevel=3) as fh:
        fh.write(json.dumps(header).encode() + b"\n")
        for text in texts:
            fh.write(text + b"\n")
    os.replace(tmp, path)  # atomic: a crash leaves no half-written cache entry


def read_header(path: Path) -> dict[str, Any]:
    with gzip.open(path, "rb") as fh:
        header: dict[str, Any] = json.loads(fh.readline())
    return header


@functools.lru_cache(maxsize=2)  # consecutive samples of one task reuse it; memory stays per task
def read_expected(path: Path) -> dict[str, list[bytes]]:
    """The expected outputs' wire text per split; RuntimeError for a damaged cache file."""
    try:
        with gzip.open(path, "rb") as fh:
            header = json.loads(fh.readline())
            lines = fh.read().split(b"\n")
        n_base = len(header["base"]["index"])
        n_plus = len(header["plus"]["index"])
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"damaged reference cache {path} ({exc}); delete it to recompute") from None
    if len(lines) != n_base + n_plus + 1:  # + the empty string after the last newline
        raise RuntimeError(f"damaged reference cache {path} (truncated); delete it to recompute")
    return {"base": lines[:n_base], "plus": lines[n_base : n_base + n_plus]}
