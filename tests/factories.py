"""Plain factories for test objects: settings, API keys, fake-upstream (fault-injection) answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:  # the gateway's imports stay out of the training-only GPU runs (tests -m gpu)
    from gateway.config import GatewaySettings

# The benchmark data of the development checkout (../shared/data/benchmarks beside the repository):
# the tests' benchmark mirror (tests/conftest.py sets CODESIEVE_BENCHMARK_MIRROR to it) and the home
# of the published reference generations. Product code only knows the setting.
SHARED_BENCHMARKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"


def make_settings(tmp_path: Path, **overrides: Any) -> GatewaySettings:
    from gateway.config import GatewaySettings

    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "upstream_url": "http://fake-upstream.invalid",
        "served_model_name": "fake-model",
        "db_url": f"sqlite:///{tmp_path / 'telemetry.db'}",
        "telemetry_flush_interval_s": 0.05,
    }
    values.update(overrides)
    return GatewaySettings(**values)


def make_api_key(settings: GatewaySettings, *, user: str = "alice", is_admin: bool = False) -> str:
    from gateway.db import build_sync_engine, run_migrations
    from gateway.telemetry.repository import create_api_key

    run_migrations(settings.sync_db_url)
    engine = build_sync_engine(settings.sync_db_url)
    try:
        return create_api_key(engine, user=user, is_admin=is_admin)
    finally:
        engine.dispose()


class FakeUpstream:
    """A fake vLLM for fault injection and for asserting what the gateway forwards.

    It answers `text` (split into `chunks` for streaming) with `finish_reason` ("length" for a
    max_tokens cut; None for a stream that ends without one) and records every request payload.
    """

    def __init__(
        self,
        text: str = "    return a + b\n",
        chunks: int = 3,
        status: int = 200,
        text_fn: Callable[[dict[str, Any]], str] | None = None,
        finish_reason: str | None = "stop",
    ) -> None:
        self.text = text
        self.finish_reason = finish_reason
        self.text_fn = text_fn
        self.chunks = chunks
        self.status = status
        self.payloads: list[dict[str, Any]] = []
        self.raise_exc: Exception | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.raise_exc is not None:
            raise self.raise_exc
        if request.url.path == "/health":
            return httpx.Response(200)
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "fake-model"}]})
        payload = json.loads(request.content)
        self.payloads.append(payload)
        if self.text_fn is not None:
            self.text = self.text_fn(payload)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": {"message": "upstream says no"}})
        n = payload.get("n", 1)
        if payload.get("stream"):
            return httpx.Response(200, content=self._sse(n), headers={"content-type": "text/event-stream"})
        return httpx.Response(
            200,
            json={
                "id": "cmpl-up",
                "object": "text_completion",
                "model": payload["model"],
                "choices": [{"index": i, "text": self.text, "finish_reason": self.finish_reason} for i in range(n)],
                "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
            },
        )

    def _sse(self, n: int) -> bytes:
        size = max(1, len(self.text) // self.chunks)
        parts = [self.text[i : i + size] for i in range(0, len(self.text), size)]
        lines = []
        for i in range(n):
            for j, part in enumerate(parts):
                finish = self.finish_reason if j == len(parts) - 1 else None
                lines.append({"id": "x", "choices": [{"index": i, "text": part, "finish_reason": finish}]})
        lines.append({"id": "x", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7}})
        body = "".join(f"data: {json.dumps(x)}\n\n" for x in lines) + "data: [DONE]\n\n"
        return body.encode()

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


def ab_metric(name: str, **overrides: Any) -> Any:
    """One of the A/B report's own metric definitions (experiments.ab.metrics), optionally adjusted."""
    import dataclasses

    from experiments.ab.metrics import DEFAULT_METRICS

    spec = {m.name: m for m in DEFAULT_METRICS}[name]
    return dataclasses.replace(spec, **overrides) if overrides else spec


def cheap_tiny_config(**overrides: Any) -> Any:
    """The "test" preset cut down to a few steps on a small corpus: for tests of the build itself."""
    import dataclasses

    from training.tiny_model import TinyModelConfig

    cheap = {
        "max_train_chars": 150_000,
        "max_heldout_chars": 30_000,
        "tokenizer_train_chars": 80_000,
        "vocab_size": 512,
        "max_steps": 3,
        "eval_tokens": 1024,
    }
    return dataclasses.replace(TinyModelConfig.preset("test"), **{**cheap, **overrides})


def write_handler_corpus(path: Path, n_records: int) -> Path:
    """A DP training corpus of `n_records` small distinct handler functions over 16 repos (JSONL)."""
    with path.open("w") as fh:
        for i in range(n_records):
            text = f"def handler_{i}(event):\n    key = 'k{i * 7919 % 1000}'\n    return event[key] + {i}\n"
            fh.write(json.dumps({"content": text, "repo": f"org/repo{i % 16}", "path": f"h{i}.py"}) + "\n")
    return path


def small_dp_config(root: Path, **overrides: Any) -> Any:
    """The DP tests' job: a few steps of DP-SGD on `write_handler_corpus` next to a `base` model link."""
    import dataclasses

    from training.config import DPTrainConfig

    base = DPTrainConfig(
        model_dir=str(root / "base"),
        data_paths=(str(root / "corpus.jsonl"),),
        output_dir=str(root / "out"),
        target_epsilon=2.0,
        epochs=1,
        batch_size=8,
        physical_batch_size=4,
        seq_len=32,
        learning_rate=5e-3,
        num_threads=1,
        eval_interval=1000,
        checkpoint_interval=8,
        seed=3,
        device="cpu",  # the CPU suite stays on the CPU on a GPU machine too (GPU tests ask for cuda)
    )
    return dataclasses.replace(base, **overrides)


def micro_llama(vocab_size: int, *, tied: bool = False) -> Any:
    """A randomly initialised 2-layer Llama small enough to compare DP updates exactly (seeded)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=32,
        max_position_embeddings=64,
        tie_word_embeddings=tied,
    )
    return LlamaForCausalLM(config)


def make_dp_workdir(root: Path, base_model: Path, n_records: int) -> Path:
    """A DP test folder: `base` (a link to the base model) and `corpus.jsonl` (write_handler_corpus)."""
    (root / "base").symlink_to(base_model)
    write_handler_corpus(root / "corpus.jsonl", n_records)
    return root


class InjectedCrash(RuntimeError):
    """Fault injection: the DP job dies right after writing a checkpoint."""


def run_until_first_checkpoint(cfg: Any) -> int:
    """Fault injection: run the one-process DP job and crash it right after its first checkpoint;
    returns the step that checkpoint holds."""
    from training import checkpoint as ckpt
    from training.train import run_dp_training

    real_save = ckpt.save_checkpoint

    def crashing_save(*args: Any, **kwargs: Any) -> Path:
        real_save(*args, **kwargs)
        raise InjectedCrash(str(kwargs["meta"]["step"]))

    ckpt.save_checkpoint = crashing_save
    try:
        run_dp_training(cfg)
    except InjectedCrash as crash:
        return int(str(crash))
    finally:
        ckpt.save_checkpoint = real_save
    raise AssertionError("the job finished without writing a checkpoint")
