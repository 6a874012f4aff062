"""BenchSettings: the evaluator's settings, from CODESIEVE_* env vars: where benchmark data is
(`codesieve.core.benchmark_data.DataSettings`, shared with `dedup decontaminate`) plus semgrep.

Precedence (highest first): arguments to BenchSettings(...) (the CLI passes --data-dir this way)
-> CODESIEVE_* environment variables -> the defaults below. No `.env` file: a stray one in the
working directory must not redirect which data a score was computed on.
"""

from __future__ import annotations

from pydantic import Field

from codesieve.core.benchmark_data import DataSettings

__all__ = ["BenchSettings"]


class BenchSettings(DataSettings):
    semgrep: str = Field(
        default="semgrep",
        description="the semgrep executable (a name on PATH, or a path) that runs the Insecure Code Detector "
        "rules; semgrep pins dependencies vLLM cannot share, so it is installed as its own tool "
        "(`pipx install semgrep==1.185.0`) and named here",
    )
