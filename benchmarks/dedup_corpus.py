"""Real-code corpora for the dedup benchmarks: .py files of the installed packages (no download).

Shared by benchmarks/dedup_throughput.py and benchmarks/dedup_quality.py.
"""

from __future__ import annotations

import json
import random
import sysconfig
from pathlib import Path

SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
# The Stack-style size filter: skip stubs and generated giants
MIN_BYTES, MAX_BYTES = 200, 100_000


def real_code_files(n: int, *, seed: int = 0) -> list[Path]:
    """`n` distinct .py files of this environment, sampled reproducibly (sorted, then seeded)."""
    files = sorted(p for p in SITE_PACKAGES.rglob("*.py") if p.is_file() and MIN_BYTES <= p.stat().st_size <= MAX_BYTES)
    if len(files) < n:
        raise SystemExit(f"only {len(files)} .py files under {SITE_PACKAGES}, need {n}")
    return sorted(random.Random(seed).sample(files, n))


def to_record(path: Path, text: str | None = None, **extra: object) -> dict:
    rel = path.relative_to(SITE_PACKAGES) if path.is_relative_to(SITE_PACKAGES) else path
    return {
        "repo": rel.parts[0],
        "path": str(rel),
        "licence": "MIT",
        "language": "python",
        "content": text if text is not None else path.read_text(encoding="utf-8", errors="replace"),
        **extra,
    }


def write_jsonl(records: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
    return path
