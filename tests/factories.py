"""Plain factories for test objects: settings, API keys, a fake upstream server (fault injection)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:  # the gateway's imports stay out of the training-only GPU runs (tests -m gpu)
    from gateway.config import GatewaySettings

# The benchmark data of the development checkout (../shared/data/benchmarks beside the repository):
# the tests' benchmark mirror (tests/conftest.py sets CODESIEVE_BENCHMARK_MIRROR to it) and the home
# of the published reference generations. Product code only knows the setting.
SHARED_BENCHMARKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"


def make_settings(tmp_path: Path, *, upstream: FakeUpstream | None = None, **overrides: Any) -> GatewaySettings:
    """Test settings; `upstream`: a started FakeUpstream to send completions to (else nothing answers)."""
    from gateway.config import GatewaySettings

    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "upstream_url": upstream.url if upstream is not None else "http://fake-upstream.invalid",
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

    A real HTTP server (aiohttp.web) on a free loopback port, in its own thread and event loop, so
    the gateway reaches it with the same upstream client it runs in production. Start it with
    `with FakeUpstream(...) as upstream:` and point the gateway at `upstream.url`
    (`make_settings(tmp_path, upstream=upstream)`).

    It answers `text` (split into `chunks` SSE events, one write each, when streaming) with
    `finish_reason` ("length" for a max_tokens cut; None for a stream that ends without one) and
    records every completion payload. Faults, on /v1/completions only (start-up's /v1/models is
    always answered): `status` (an error answer), `delay_s` (answer that late), `hang_up` (close the
    connection without answering). Subclasses script other answers by overriding `respond`.
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
        self.delay_s = 0.0
        self.hang_up = False
        self.payloads: list[dict[str, Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    # --- what it answers
    def respond(self, path: str, payload: dict[str, Any] | None) -> web.Response | list[bytes]:
        """The answer to one request: a response, or SSE events to stream (one write each)."""
        if path == "/health":
            return web.Response()
        if path == "/v1/models":
            return web.json_response({"data": [{"id": "fake-model"}]})
        assert payload is not None, path
        self.payloads.append(payload)
        if self.text_fn is not None:
            self.text = self.text_fn(payload)
        if self.status != 200:
            return web.json_response({"error": {"message": "upstream says no"}}, status=self.status)
        n = payload.get("n", 1)
        if payload.get("stream"):
            return self._sse(n)
        return web.json_response(
            {
                "id": "cmpl-up",
                "object": "text_completion",
                "model": payload["model"],
                "choices": [{"index": i, "text": self.text, "finish_reason": self.finish_reason} for i in range(n)],
                "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
            }
        )

    def _sse(self, n: int) -> list[bytes]:
        size = max(1, len(self.text) // self.chunks)
        parts = [self.text[i : i + size] for i in range(0, len(self.text), size)]
        lines = []
        for i in range(n):
            for j, part in enumerate(parts):
                finish = self.finish_reason if j == len(parts) - 1 else None
                lines.append({"id": "x", "choices": [{"index": i, "text": part, "finish_reason": finish}]})
        lines.append({"id": "x", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7}})
        return sse_events(lines)

    # --- the server
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def url(self) -> str:
        assert self._port, "start the fake first: `with FakeUpstream() as upstream:`"
        return f"http://127.0.0.1:{self._port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if request.path == "/v1/completions":
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self.hang_up:
                assert request.transport is not None
                request.transport.abort()  # no status line, no bytes: the connection just ends
                raise asyncio.CancelledError
        answer = self.respond(request.path, json.loads(raw) if raw else None)
        if isinstance(answer, web.StreamResponse):
            return answer
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for event in answer:
            await resp.write(event)
        await resp.write_eof()
        return resp

    def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, sock).start())
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def __enter__(self) -> FakeUpstream:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(sock, ready), name="fake-upstream", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake upstream did not start")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


def sse_events(events: list[dict[str, Any]]) -> list[bytes]:
    """`events` as server-sent events, then vLLM's `data: [DONE]`."""
    return [f"data: {json.dumps(x)}\n\n".encode() for x in events] + [b"data: [DONE]\n\n"]


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
