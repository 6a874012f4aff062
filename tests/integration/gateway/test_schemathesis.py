"""schemathesis against the running gateway (real uvicorn, real codesieve serve process): every operation
of the OpenAPI document with generated requests; 0 server errors and 0 response schema violations.

The upstream is a stub OpenAI server (as in benchmarks/gateway_overhead.py --stub, plus SSE for
`stream: true`): this test is about the gateway's own answers, not the model's.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from codesieve.testing.services import GatewayProcess, create_key, free_port, start_gateway, stop_process_group

pytestmark = pytest.mark.integration

_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
_EXAMPLES = 12  # per operation: ~13 operations x 12 examples keeps the test well under a minute


class _StubUpstream(BaseHTTPRequestHandler):
    """A stub vLLM: one fixed completion per choice, as JSON or as SSE."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def _send(self, data: bytes, content_type: str = "application/json") -> None:
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._send(json.dumps({"data": [{"id": "stub"}]}).encode() if self.path.startswith("/v1") else b"{}")

    def do_POST(self) -> None:  # noqa: N802
        req = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        n = int(req.get("n") or 1)
        choices = [{"index": i, "text": "    return x\n", "finish_reason": "stop", "logprobs": None} for i in range(n)]
        usage = {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
        if req.get("stream"):
            events = [{"id": "s", "object": "text_completion", "choices": [c]} for c in choices]
            events.append({"id": "s", "object": "text_completion", "choices": [], "usage": usage})
            body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
            self._send(body.encode(), "text/event-stream")
            return
        self._send(json.dumps({"id": "s", "object": "text_completion", "choices": choices, "usage": usage}).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, str, str]]:
    stub = ThreadingHTTPServer(("127.0.0.1", free_port()), _StubUpstream)
    stub.daemon_threads = True
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    tmp = tmp_path_factory.mktemp("schemathesis")
    db_url = f"sqlite:///{tmp / 'gw.db'}"
    key, admin = create_key(db_url, user="st"), create_key(db_url, user="st-admin", admin=True)
    gw = start_gateway(
        tmp / "gw",
        db_url=db_url,
        upstream=f"http://127.0.0.1:{stub.server_port}",
        env={"CODESIEVE_RATE_LIMIT_PER_S": "100000", "CODESIEVE_RATE_LIMIT_BURST": "100000"},
    )
    try:
        yield gw, key, admin
    finally:
        stop_process_group(gw.proc)
        stub.shutdown()


def _run_operations(gw: GatewayProcess, key: str, *, experiments: bool, examples: int) -> list[str]:
    """Run generated cases of each operation (or only POST /v1/experiments); returns the failures.

    schemathesis' own pytest plugin does not load with this pytest, so each operation's strategy runs
    under hypothesis directly (the same generation and the same checks).
    """
    schema = schemathesis.openapi.from_url(f"{gw.url}/openapi.json")
    failures: list[str] = []
    for result in schema.get_all_operations():
        op = result.ok()
        is_experiments = op.path == "/v1/experiments" and op.method.upper() == "POST"
        if is_experiments != experiments:
            continue

        @given(case=op.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=gw.url, headers={"Authorization": f"Bearer {key}"}, checks=_CHECKS)

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collected, then reported together
            failures.append(f"{op.method.upper()} {op.path}: {str(exc)[:2000]}")
    return failures


def test_every_operation(gateway: tuple[GatewayProcess, str, str]) -> None:
    """Generated requests with a valid key: never a 5xx, always the documented status and body shape."""
    gw, key, _ = gateway
    failures = _run_operations(gw, key, experiments=False, examples=_EXAMPLES)
    assert not failures, "\n\n".join(failures)


def test_admin_experiment_definitions(gateway: tuple[GatewayProcess, str, str]) -> None:
    """Generated experiment definitions with an admin key (issue 13: bad filter_policy types were 500s).

    Run apart (and after the rest): a stored experiment sends its arm's traffic to generated upstream
    URLs, whose 502/504 answers are correct, but not what `test_every_operation` checks.
    """
    gw, _, admin = gateway
    failures = _run_operations(gw, admin, experiments=True, examples=_EXAMPLES * 3)
    assert not failures, "\n\n".join(failures)


def test_unauthenticated_requests_get_the_envelope(gateway: tuple[GatewayProcess, str, str]) -> None:
    """Without a key every /v1 route answers 401 in the documented envelope, not a 5xx."""
    import httpx

    gw, _, _ = gateway
    for method, path in (("POST", "/v1/completions"), ("POST", "/v1/events"), ("GET", "/v1/models")):
        r = httpx.request(method, f"{gw.url}{path}", json={}, timeout=10)
        assert r.status_code == 401, (path, r.status_code)
        assert r.json()["error"]["code"] == "missing_api_key"


# Requests the HTTP parser refuses before the app sees them (issue 13: plain-text 400s).
_MALFORMED = {
    "CR in a header value": b"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Machine-Id: a\rb\r\nContent-Length: 2\r\n\r\n{}",
    "NUL in a header": b"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Machine-Id: a\x00b\r\nContent-Length: 2\r\n\r\n{}",
    "100 KB request line": b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "folded header": b"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Machine-Id: a\r\n b\r\nContent-Length: 2\r\n\r\n{}",
    "two Content-Length": b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "Content-Length with Transfer-Encoding": (
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
}


@pytest.mark.parametrize("raw", list(_MALFORMED.values()), ids=list(_MALFORMED))
def test_http_layer_refusals_use_the_envelope(raw: bytes, gateway: tuple[GatewayProcess, str, str]) -> None:
    import socket

    gw, _, _ = gateway
    host, port = gw.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):  # the server closes the connection after its answer
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["error"]["code"] == "invalid_http_request"
