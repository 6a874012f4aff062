"""The real tabby-agent (npm, pinned in tests/clients/package.json) against a real gateway and vLLM.

tabby-agent is what Tabby's Vim/Neovim and IntelliJ plugins run; they drive it over stdio with JSON
lines (`[id, {"func": name, "args": [...]}]`, answered `[id, result]`), the protocol this test
speaks. The agent reads its server from ~/.tabby-client/agent/config.toml (HOME is a temp dir here)
and keeps its state in ~/.tabby-client/agent/data.json. Every connection it opens is recorded by a
preloaded script (tests/clients/record-egress.cjs) that refuses anything but loopback, so no test
run ever reaches Tabby's cloud, and the test can assert what the agent tried.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from codesieve.testing.services import REPO, GatewayProcess, VllmServer, create_key, start_gateway, stop_process_group

pytestmark = [pytest.mark.integration, pytest.mark.vllm]

CLIENTS = REPO / "tests" / "clients"
AGENT_CLI = CLIENTS / "node_modules" / "tabby-agent" / "dist" / "cli.js"
RECORDER = CLIENTS / "record-egress.cjs"


def _install_agent() -> None:
    """The pinned agent (`make test` installs it first; this keeps a lone pytest run working)."""
    subprocess.run(["bash", str(REPO / "scripts" / "install-test-clients.sh")], check=True)


class TabbyAgent:
    """tabby-agent's stdio JSON-lines protocol (what Tabby's Vim plugin speaks), one call at a time."""

    def __init__(self, home: Path, egress_log: Path) -> None:
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "EGRESS_LOG": str(egress_log)}
        self.proc = subprocess.Popen(
            ["node", "--require", str(RECORDER), str(AGENT_CLI)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=home,
        )
        self._answers: queue.Queue[list[Any]] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self.other_output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self._next_id = 1

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:  # not a protocol line (the agent's own console output)
                self.other_output.append(line.decode(errors="replace"))
                continue
            (self.events.append(msg[1]) if msg[0] == 0 else self._answers.put(msg))

    def call(self, func: str, *args: Any, timeout_s: float = 60.0) -> Any:
        req_id, self._next_id = self._next_id, self._next_id + 1
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps([req_id, {"func": func, "args": list(args)}]) + "\n").encode())
        self.proc.stdin.flush()
        answer = self._answers.get(timeout=timeout_s)
        assert answer[0] == req_id, answer
        return answer[1]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="module")
def gateway(vllm_server: VllmServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, str]]:
    _install_agent()
    tmp = tmp_path_factory.mktemp("gw-tabby")
    db_url = f"sqlite:///{tmp / 'telemetry.db'}"
    key = create_key(db_url, user="vim-user")
    gw = start_gateway(tmp, db_url=db_url, upstream=vllm_server.url)
    try:
        yield gw, key
    finally:
        stop_process_group(gw.proc)


def _home(tmp_path: Path, gw: GatewayProcess, key: str, *, opt_out: bool = False) -> Path:
    home = tmp_path / "home"
    cfg = home / ".tabby-client" / "agent" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    body = f'[server]\nendpoint = "{gw.url}"\ntoken = "{key}"\n\n[logs]\nlevel = "debug"\n'
    if opt_out:
        body += "\n[anonymousUsageTracking]\ndisable = true\n"
    cfg.write_text(body)
    return home


def _egress(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _wait(predicate: Any, timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def _events(gw: GatewayProcess) -> list[tuple[Any, ...]]:
    engine = create_engine(gw.db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT completion_id, kind, accept_kind, accepted_chars, accepted_chars_source, elapsed_ms "
                    "FROM events ORDER BY id"
                )
            ).all()
    finally:
        engine.dispose()
    return [tuple(r) for r in rows]


def _completion_chars(gw: GatewayProcess, cid: str) -> int:
    engine = create_engine(gw.db_url)
    try:
        with engine.connect() as conn:
            q = text("SELECT completion_chars FROM completions WHERE id = :id")
            return int(conn.execute(q, {"id": cid}).scalar_one())
    finally:
        engine.dispose()


DOC = "def fibonacci(n):\n    if n < 2:\n        return n\n    "


def test_agent_fetches_server_setting_and_its_events_are_recorded(
    gateway: tuple[GatewayProcess, str], tmp_path: Path
) -> None:
    gw, key = gateway
    home = _home(tmp_path, gw, key)
    egress = tmp_path / "egress.jsonl"
    agent = TabbyAgent(home, egress)
    try:
        assert agent.call("initialize", {"clientProperties": {"session": {"ide": {"name": "vim"}}}}) is True
        # The agent accepted the server's version, fetched /v1beta/server_setting and turned its own
        # anonymous usage tracking off, in its live config and in its data store for the next start.
        _wait(lambda: agent.call("getConfig")["anonymousUsageTracking"]["disable"] is True)
        assert agent.call("getStatus") == "ready"
        data = home / ".tabby-client" / "agent" / "data.json"
        stored = _wait(lambda: (d := json.loads(data.read_text())).get("serverConfig") and d)  # saved after applying
        assert stored["serverConfig"][gw.url] == {"anonymousUsageTracking": {"disable": True}}

        request = {"filepath": "fib.py", "language": "python", "text": DOC, "position": len(DOC), "manually": True}
        response = agent.call("provideCompletions", request)
        cid = response["id"]
        assert cid.startswith("cmpl-"), response  # served by the gateway, not the agent's empty answer
        shown = response["choices"][0]["text"] if response["choices"] else ""

        def post(event: dict[str, Any]) -> None:
            assert agent.call("postEvent", {"completion_id": cid, "choice_index": 0, **event}) is True

        post({"type": "view", "view_id": "view-1"})
        post({"type": "select", "view_id": "view-1", "elapsed": 850})  # as tabby.vim sends it: no length
        post({"type": "select", "view_id": "view-2", "select_kind": "line", "elapsed": 400})
        # A plugin that reports what it inserted (codesieve's field, passed through by the agent)
        post({"type": "select", "view_id": "view-3", "elapsed": 900, "accepted_chars": len(shown)})
        post({"type": "dismiss", "view_id": "view-4", "elapsed": 1200})
        assert agent.call("finalize") is True
    finally:
        agent.close()

    served = httpx.get(f"{gw.url}/metrics").text
    assert 'codesieve_requests_total{route="/v1beta/server_setting",status="200"}' in served
    rows = _wait(lambda: (r := _events(gw)) and len(r) == 5 and r)
    assert [(r[1], r[2], r[4]) for r in rows] == [
        ("shown", None, None),
        ("accepted", "full", "server"),
        ("accepted", "partial", "server"),
        ("accepted", "full", "client"),
        ("dismissed", None, None),
    ]
    assert {r[0] for r in rows} == {cid}
    assert rows[3][3] == len(shown) and rows[1][5] == 850.0 and rows[4][5] == 1200.0
    served_chars = _completion_chars(gw, cid)
    assert rows[1][3] == served_chars and 0 < rows[2][3] <= served_chars  # the served text (and its first line)
    # What left loopback: only the two one-off events tabby-agent 1.5.0 sends on its very first
    # connection, before the answer to /v1beta/server_setting can arrive (AgentConnected right after
    # /v1/health, AgentInitialized right after that); the harness refused both. Nothing after it:
    # no AgentStats at finalize, nothing per completion or event. (A second session starts with the
    # stored setting and sends nothing: test_a_second_session_never_leaves_loopback.)
    attempts = _egress(egress)
    assert any(a["loopback"] and a["detail"] == "GET /v1beta/server_setting" for a in attempts)
    outside = [a["detail"] for a in attempts if not a["loopback"]]
    assert "POST /api/usage AgentConnected" in outside
    assert set(outside) <= {"POST /api/usage AgentConnected", "POST /api/usage AgentInitialized"}


def test_a_second_session_never_leaves_loopback(gateway: tuple[GatewayProcess, str], tmp_path: Path) -> None:
    """After one session the server's setting is in the agent's data store: it starts with tracking off."""
    gw, key = gateway
    home = _home(tmp_path, gw, key)
    for session in range(2):
        egress = tmp_path / f"egress-{session}.jsonl"
        agent = TabbyAgent(home, egress)
        try:
            agent.call("initialize", {})
            _wait(lambda agent=agent: agent.call("getConfig")["anonymousUsageTracking"]["disable"] is True)
            doc = "import os\n"
            agent.call("provideCompletions", {"filepath": "a.py", "language": "python", "text": doc, "position": 10})
            agent.call("finalize")
        finally:
            agent.close()
    attempts = _egress(egress)
    assert any(a["loopback"] for a in attempts)  # the recorder saw the agent's own requests
    assert [a for a in attempts if not a["loopback"]] == []


def test_opted_out_agent_never_leaves_loopback(gateway: tuple[GatewayProcess, str], tmp_path: Path) -> None:
    """With `[anonymousUsageTracking] disable = true` deployed, even a first session stays on loopback."""
    gw, key = gateway
    home = _home(tmp_path, gw, key, opt_out=True)
    egress = tmp_path / "egress.jsonl"
    agent = TabbyAgent(home, egress)
    try:
        agent.call("initialize", {})
        agent.call("provideCompletions", {"filepath": "a.py", "language": "python", "text": DOC, "position": 40})
        agent.call("finalize")
    finally:
        agent.close()
    attempts = _egress(egress)
    assert any(a["loopback"] for a in attempts)
    assert [a for a in attempts if not a["loopback"]] == []
