"""Issue 7: the merged output of a DP run (`codesieve train dp`) loads in vLLM and serves through the gateway."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from codesieve.testing.services import VllmPool, VllmServer, create_key, start_gateway, stop_process_group

pytestmark = [pytest.mark.integration, pytest.mark.vllm, pytest.mark.slow]

CODESIEVE = str(Path(sys.executable).with_name("codesieve"))
N_RECORDS = 128
TARGET_EPSILON = 2.0
# 1 epoch at q = 8/128: 16 DP steps of 32-token windows (seconds); LoRA merged into the base weights.
TRAIN_ARGS = ("--epsilon", str(TARGET_EPSILON), "--epochs", "1", "--batch-size", "8", "--physical-batch-size", "4",
              "--seq-len", "32", "--lr", "5e-3", "--seed", "3", "--threads", "2")  # fmt: skip


PROMPT = "def handler_7(event):"


def _hf_greedy(model_dir: Path, prompt: str, max_new_tokens: int) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    ids = tok(prompt, return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False)
    return tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


@pytest.fixture(scope="module")
def dp_model(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("dp-served")
    corpus = root / "corpus.jsonl"
    with corpus.open("w") as fh:
        for i in range(N_RECORDS):
            text = f"def handler_{i}(event):\n    key = 'k{i * 7919 % 1000}'\n    return event[key] + {i}\n"
            fh.write(json.dumps({"content": text, "repo": f"org/repo{i % 16}", "path": f"h{i}.py"}) + "\n")
    out = root / "dp-out"
    cmd = [CODESIEVE, "train", "dp", "--model", str(tiny_model_dir), "--data", str(corpus), "--output", str(out)]
    result = subprocess.run([*cmd, *TRAIN_ARGS], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def served(dp_model: Path, vllm_pool: VllmPool) -> Iterator[VllmServer]:
    with vllm_pool.serving(dp_model, "tiny-code-dp") as server:
        yield server


def test_dp_output_is_a_dp_run(dp_model: Path) -> None:
    report = json.loads((dp_model / "privacy_report.json").read_text())
    assert report["dp"] is True and report["noise_multiplier"] > 0
    assert TARGET_EPSILON - 0.05 <= report["epsilon"] <= TARGET_EPSILON + 1e-9
    assert report["steps"] == report["planned_steps"] > 0


def test_dp_output_serves_through_the_gateway(served: VllmServer, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'telemetry.db'}"
    key = create_key(db_url)
    gw = start_gateway(tmp_path, db_url=db_url, upstream=served.url)
    auth = {"Authorization": f"Bearer {key}"}
    try:
        models = httpx.get(f"{gw.url}/v1/models", headers=auth, timeout=30)
        body = {"prompt": PROMPT, "max_tokens": 16, "temperature": 0}
        r = httpx.post(f"{gw.url}/v1/completions", json=body, headers=auth, timeout=120)
    finally:
        stop_process_group(gw.proc)
    assert models.json()["data"][0]["id"] == "tiny-code-dp"
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model"] == "tiny-code-dp" and out["usage"]["completion_tokens"] > 0
    # the served weights are the merged DP model's: vLLM's greedy text is transformers' on that folder
    # (the base model's differs: its greedy text for this prompt is another one)
    assert out["choices"][0]["text"].strip()
    assert out["choices"][0]["text"] == _hf_greedy(served.model_dir, PROMPT, 16)
    assert out["x_codesieve"]["completion_id"] == out["id"]
    assert out["x_codesieve"]["timings"]["upstream_ms"] > 0
