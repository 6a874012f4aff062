"""The embedded vLLM's command line: the context never exceeds what the model was built for."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.supervisor import VllmSupervisor


def _sup(model_dir: Path, max_len: int) -> VllmSupervisor:
    return VllmSupervisor(
        model_dir, port=8100, served_model_name="m", max_model_len=max_len, log_path=model_dir / "vllm.log"
    )


def test_max_model_len_is_capped_at_the_models_positions(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 512}))
    assert _sup(tmp_path, 1024).effective_max_model_len() == 512
    assert _sup(tmp_path, 256).effective_max_model_len() == 256
    cmd = _sup(tmp_path, 1024).command()
    assert cmd[cmd.index("--max-model-len") + 1] == "512"
    assert "--enforce-eager" in cmd and cmd[cmd.index("--dtype") + 1] == "float32"


def test_unreadable_config_keeps_the_setting(tmp_path: Path) -> None:
    assert _sup(tmp_path, 1024).effective_max_model_len() == 1024
