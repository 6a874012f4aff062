"""Gateway overhead: the same completion requests sent straight to vLLM and through the gateway.

    .venv/bin/python benchmarks/gateway_overhead.py [--model DIR | --upstream URL] [--requests 200]

For each concurrency level (1, 8, 32) it runs N request pairs in which each worker alternates
direct and gateway requests (so drift in vLLM's speed hits both sides equally), then reports:
  - latency p50/p99 for both paths and the added latency (gateway minus direct at that percentile);
  - the gateway's own in-process overhead (x_codesieve total_ms - upstream_ms), p50/p99;
  - throughput of each path measured in separate fixed-duration phases, and the ratio gateway/direct.
Targets (issue #2): added p50 <= 2 ms and p99 <= 10 ms at concurrency 8; throughput >= 95% of direct.
It also prints the gateway's CPU time per request (all its processes, from the throughput
phases): on a shared host that is the steadier figure, since wall-clock latency is mostly waiting
for a core. --workers N runs `codesieve serve --workers N`.
Without --upstream it trains the test-preset model (or uses --model) and starts vLLM itself.
With --stub the upstream is a stub OpenAI server in a separate process that answers a fixed
completion after --stub-delay-ms: vLLM's own run-to-run variance on a shared 2-core CPU (tens of
ms) then no longer hides the gateway's cost, which is what this benchmark is about.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

from codesieve.testing.services import (
    create_key,
    free_port,
    process_tree_cpu_s,
    start_gateway,
    start_vllm,
    stop_process_group,
    wait_http,
)

PAYLOAD = {"prompt": "import os\n\ndef list_files(path):\n", "max_tokens": 16, "temperature": 0.0, "seed": 1}


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def _client(connections: int) -> aiohttp.ClientSession:
    # aiohttp, not httpx, as the load generator: httpx costs ~1 ms of CPU per request, which on a
    # 2-core host is taken from the servers being measured (both paths use this same client).
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections), timeout=aiohttp.ClientTimeout(total=120)
    )


async def _post(client: aiohttp.ClientSession, url: str, model: str, headers: dict[str, str]) -> dict:
    async with client.post(url, json={**PAYLOAD, "model": model}, headers=headers) as r:
        r.raise_for_status()
        return await r.json()


async def _paired(
    direct: str, gateway: str, key: str, model: str, pairs: int, concurrency: int
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"direct": [], "gateway": [], "inside": []}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(pairs):
        queue.put_nowait(i)
    async with _client(concurrency * 2) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                order = ("direct", "gateway") if i % 2 == 0 else ("gateway", "direct")
                for side in order:
                    url = f"{direct}/v1/completions" if side == "direct" else f"{gateway}/v1/completions"
                    headers = {"Authorization": f"Bearer {key}"} if side == "gateway" else {}
                    t0 = time.perf_counter()
                    body = await _post(client, url, model, headers)
                    out[side].append((time.perf_counter() - t0) * 1000)
                    if side == "gateway":
                        t = body["x_codesieve"]["timings"]
                        out["inside"].append(t["total_ms"] - t["upstream_ms"])

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


async def _throughput(url: str, key: str | None, model: str, concurrency: int, duration_s: float) -> tuple[float, int]:
    """Requests per second over a fixed-duration closed loop, and how many requests that was."""
    done = 0
    stop_at = time.perf_counter() + duration_s
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with _client(concurrency) as client:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop_at:
                await _post(client, f"{url}/v1/completions", model, headers)
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - started), done


def _start_vllm(model_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    server, proc = start_vllm(model_dir, log, served_model_name="tiny-code")  # the tests' settings
    return proc, server.url


_STUB = """
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
delay = float(sys.argv[2]) / 1000
body = json.dumps({"id": "stub", "object": "text_completion", "model": "stub",
                   "choices": [{"index": 0, "text": "    return [p for p in os.listdir(path)]\\n",
                                "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 13, "completion_tokens": 16, "total_tokens": 29}}).encode()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle + the client's delayed
    # ACK add ~40 ms to every answer (real servers, vLLM's uvicorn included, set TCP_NODELAY).
    disable_nagle_algorithm = True
    def _send(self, data):
        self.send_response(200); self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data))); self.end_headers(); self.wfile.write(data)
    def do_GET(self):
        self._send(json.dumps({"data": [{"id": "stub"}]}).encode() if self.path.startswith("/v1") else b"{}")
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0))); time.sleep(delay); self._send(body)
    def log_message(self, *a): pass
class S(ThreadingHTTPServer):
    request_queue_size = 1024  # the default backlog of 5 resets connections at concurrency 32
    daemon_threads = True
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _start_stub(delay_ms: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", _STUB, str(port), str(delay_ms)], start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", 30, proc)
    return proc, url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", help="a running vLLM OpenAI server (default: start one)")
    ap.add_argument("--model", type=Path, help="model folder for the vLLM this script starts")
    ap.add_argument("--requests", type=int, default=200, help="request pairs per concurrency level")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--duration", type=float, default=15.0, help="seconds per throughput phase")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--stub", action="store_true", help="a stub upstream instead of vLLM (isolates the gateway)")
    ap.add_argument("--stub-delay-ms", type=float, default=50.0, help="the stub's answer time")
    ap.add_argument("--workers", type=int, default=1, help="gateway worker processes (serve --workers)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="cs-bench-"))
    vllm_proc = None
    if args.stub:
        vllm_proc, upstream = _start_stub(args.stub_delay_ms)
        model = "stub"
    elif args.upstream:
        upstream, model = args.upstream.rstrip("/"), httpx.get(f"{args.upstream}/v1/models").json()["data"][0]["id"]
    else:
        model_dir = args.model
        if model_dir is None:
            from training.tiny_model import TinyModelConfig, build_tiny_model

            model_dir = build_tiny_model(tmp / "tiny-code", TinyModelConfig.preset("test"))
        vllm_proc, upstream = _start_vllm(model_dir, tmp / "vllm.log")
        model = "tiny-code"
    db_url = f"sqlite:///{tmp / 'bench.db'}"
    key = create_key(db_url, user="bench")
    gw = start_gateway(
        tmp / "gw",
        db_url=db_url,
        upstream=upstream,
        env={"CODESIEVE_RATE_LIMIT_PER_S": "100000", "CODESIEVE_RATE_LIMIT_BURST": "100000"},
        extra_args=("--workers", str(args.workers)) if args.workers > 1 else (),
    )
    results = []
    try:
        asyncio.run(_paired(upstream, gw.url, key, model, 20, 4))  # warm-up: connections, caches
        for c in (int(x) for x in args.concurrency.split(",")):
            lat = asyncio.run(_paired(upstream, gw.url, key, model, args.requests, c))
            tput: dict[str, list[float]] = {}
            gw_cpu_s, gw_requests = 0.0, 0.0
            for side in ("direct", "gateway", "direct", "gateway"):  # two phases each, averaged
                url, k = (upstream, None) if side == "direct" else (gw.url, key)
                cpu0 = process_tree_cpu_s(gw.proc.pid)
                rps, done = asyncio.run(_throughput(url, k, model, c, args.duration / 2))
                if side == "gateway":
                    # The requests actually served in the CPU window (was rps x a longer wall time,
                    # which counted a few tenths of a percent too many requests, understating CPU per request).
                    gw_cpu_s += process_tree_cpu_s(gw.proc.pid) - cpu0
                    gw_requests += done
                tput.setdefault(side, []).append(rps)
            row = {
                "concurrency": c,
                "pairs": args.requests,
                "direct_p50_ms": _pct(lat["direct"], 0.5),
                "direct_p99_ms": _pct(lat["direct"], 0.99),
                "gateway_p50_ms": _pct(lat["gateway"], 0.5),
                "gateway_p99_ms": _pct(lat["gateway"], 0.99),
                "inside_p50_ms": _pct(lat["inside"], 0.5),
                "inside_p99_ms": _pct(lat["inside"], 0.99),
                "direct_rps": statistics.mean(tput["direct"]),
                "gateway_rps": statistics.mean(tput["gateway"]),
                "gateway_cpu_ms_per_request": 1000.0 * gw_cpu_s / max(gw_requests, 1.0),
            }
            row["added_p50_ms"] = row["gateway_p50_ms"] - row["direct_p50_ms"]
            row["added_p99_ms"] = row["gateway_p99_ms"] - row["direct_p99_ms"]
            row["throughput_ratio"] = row["gateway_rps"] / row["direct_rps"]
            results.append(row)
            print(
                f"c={c:>2}  direct p50 {row['direct_p50_ms']:7.2f} p99 {row['direct_p99_ms']:7.2f} ms | "
                f"gateway p50 {row['gateway_p50_ms']:7.2f} p99 {row['gateway_p99_ms']:7.2f} ms | "
                f"added p50 {row['added_p50_ms']:+6.2f} p99 {row['added_p99_ms']:+6.2f} ms | "
                f"in-gateway p50 {row['inside_p50_ms']:.2f} p99 {row['inside_p99_ms']:.2f} ms | "
                f"rps {row['direct_rps']:.1f} -> {row['gateway_rps']:.1f} (x{row['throughput_ratio']:.3f}) | "
                f"gateway CPU {row['gateway_cpu_ms_per_request']:.2f} ms/request",
                flush=True,
            )
    finally:
        stop_process_group(gw.proc)
        if vllm_proc is not None:
            stop_process_group(vllm_proc)
    _print_targets(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _print_targets(results: list[dict[str, float]]) -> None:
    """Issue #2's targets, at concurrency 8: added p50 <= 2 ms, added p99 <= 10 ms, throughput >= 0.95."""
    row = next((r for r in results if r["concurrency"] == 8), None)
    if row is None:
        print("targets are defined at concurrency 8, which was not run")
        return
    checks = [
        ("added p50", row["added_p50_ms"], 2.0, "ms", row["added_p50_ms"] <= 2.0),
        ("added p99", row["added_p99_ms"], 10.0, "ms", row["added_p99_ms"] <= 10.0),
        ("throughput ratio", row["throughput_ratio"], 0.95, "", row["throughput_ratio"] >= 0.95),
    ]
    for name, value, target, unit, ok in checks:
        print(f"target c=8 {name}: {value:.3f}{unit} vs {target}{unit} -> {'met' if ok else 'NOT met'}")
    print(f"load average during the run (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
