"""BenchSettings: where the evaluator keeps and finds benchmark data, from CODESIEVE_* env vars.

Precedence (highest first): arguments to BenchSettings(...) (the CLI passes --data-dir this way)
-> CODESIEVE_* environment variables -> the defaults below. No `.env` file: a stray one in the
working directory must not redirect which data a score was computed on.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["BenchSettings", "default_data_dir"]


def default_data_dir() -> Path:
    """$XDG_DATA_HOME/codesieve (~/.local/share/codesieve): the data directory the gateway uses too."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "codesieve"


class BenchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CODESIEVE_", extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="codesieve's data directory; fetched benchmarks live in <data_dir>/benchmarks, "
        "derived caches (HumanEval+ expected outputs) in <data_dir>/cache",
    )
    benchmark_mirror: Path | None = Field(
        default=None,
        description="a local mirror of the benchmark files (the layout of `codesieve eval data list`); "
        "when set, data is read from it and never fetched (tests and CI point it at ../shared/data/benchmarks)",
    )

    semgrep: str = Field(
        default="semgrep",
        description="the semgrep executable (a name on PATH, or a path) that runs the Insecure Code Detector "
        "rules; semgrep pins dependencies vLLM cannot share, so it is installed as its own tool "
        "(`pipx install semgrep==1.185.0`) and named here",
    )

    @property
    def benchmarks_dir(self) -> Path:
        return self.data_dir / "benchmarks"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"
