"""Event intake under load: a loopback load generator against a gateway backed by PostgreSQL.

    .venv/bin/python benchmarks/events_load.py [--duration 30] [--concurrency 8,32]

It creates a throwaway PostgreSQL database (default server: 127.0.0.1:5432, override with
--pg-admin URL), starts `codesieve serve` on it, creates 200 completions, then posts `shown` events
with unique client ids for --duration seconds with wrk (Debian package `wrk`: a C load generator,
so the client does not eat the 2 cores the gateway runs on), once per concurrency level. After a
graceful stop it counts the rows:
lost = acknowledged events missing from the database (acknowledged count minus stored ids; a request
in flight at the end may be stored without being counted, so this never overstates loss),
duplicated = rows beyond one per id. Prints sustained events/s, latency p50/p99, lost, duplicated.
Target (issue #4): >= 2,000 events/s sustained with p99 <= 10 ms and zero lost, on 2 cores.
Also prints the gateway's CPU time per event (all its processes): on a shared host the steadier
figure. --workers N runs `codesieve serve --workers N` (one telemetry journal per process).

The upstream is a stub HTTP server answering a fixed completion (named as such: this measures the
events path, not vLLM).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg

from codesieve.testing.services import create_key, process_tree_cpu_s, start_gateway, stop_process_group


class _StubUpstream(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self._send({"data": [{"id": "stub"}]})

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self._send(
            {
                "choices": [{"index": 0, "text": "    return 1\n", "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 4},
            }
        )

    def _send(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


def _run_wrk(url: str, key: str, cids: list[str], *, duration_s: float, concurrency: int, tag: str) -> dict[str, float]:
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark needs wrk (Debian: apt-get install wrk)")
    cmd = [
        "wrk",
        f"-t{min(2, concurrency)}",
        f"-c{concurrency}",
        f"-d{duration_s:.0f}s",
        "--latency",
        "-s",
        str(Path(__file__).with_name("events_load.lua")),
        url,
        "--",
        key,
        tag,
        *cids,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    values = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isupper() and parts[1].isdigit():
            values[parts[0]] = int(parts[1])
    return {
        "acked": values["ACKED"],
        "p50_us": values["P50_US"],
        "p99_us": values["P99_US"],
        "duration_us": values["DURATION_US"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--concurrency", default="8,32", help="wrk connections, one run per value")
    ap.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--workers", type=int, default=1, help="gateway worker processes (serve --workers)")
    args = ap.parse_args()

    stub = ThreadingHTTPServer(("127.0.0.1", 0), _StubUpstream)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    dbname = f"codesieve_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    db_url = args.pg_admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{dbname}"
    tmp = Path(tempfile.mkdtemp(prefix="cs-events-"))
    try:
        key = create_key(db_url, user="load")
        gw = start_gateway(
            tmp,
            db_url=db_url,
            upstream=f"http://127.0.0.1:{stub.server_port}",
            env={"CODESIEVE_RATE_LIMIT_PER_S": "1000000", "CODESIEVE_RATE_LIMIT_BURST": "1000000"},
            extra_args=("--workers", str(args.workers)) if args.workers > 1 else (),
        )
        try:
            auth = {"Authorization": f"Bearer {key}"}
            cids = [
                httpx.post(f"{gw.url}/v1/completions", json={"prompt": "x = "}, headers=auth).json()["id"]
                for _ in range(200)
            ]
            runs = []
            for i, c in enumerate(args.concurrency.split(",")):
                cpu0 = process_tree_cpu_s(gw.proc.pid)
                w = _run_wrk(gw.url, key, cids, duration_s=args.duration, concurrency=int(c), tag=f"r{i}")
                w["cpu_ms_per_event"] = 1000.0 * (process_tree_cpu_s(gw.proc.pid) - cpu0) / max(w["acked"], 1)
                runs.append((int(c), w))
        finally:
            stop_process_group(gw.proc)  # graceful: the writer flushes its journal
        with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
            stored = [r[0] for r in conn.execute("SELECT client_event_id FROM events WHERE client_event_id LIKE 'r%'")]
        acked = sum(w["acked"] for _, w in runs)
        lost = max(0, acked - len(set(stored)))
        dup = len(stored) - len(set(stored))
        for c, w in runs:
            seconds = w["duration_us"] / 1e6
            print(
                f"wrk, {c} connections, {seconds:.1f} s: {w['acked']} events acknowledged -> "
                f"{w['acked'] / seconds:,.0f} events/s sustained; latency p50 {w['p50_us'] / 1000:.2f} ms "
                f"p99 {w['p99_us'] / 1000:.2f} ms; gateway CPU {w['cpu_ms_per_event']:.3f} ms/event"
            )
        print(f"lost {lost}  duplicated {dup}  (wrk's events in PostgreSQL: {len(stored)})")
        for c, w in runs:
            rate, p99 = w["acked"] / (w["duration_us"] / 1e6), w["p99_us"] / 1000
            ok = rate >= 2000 and p99 <= 10.0 and lost == 0
            print(
                f"target c={c}: {rate:,.0f} events/s vs >= 2,000 (x{rate / 2000:.2f}), p99 {p99:.2f} ms vs <= 10 ms, "
                f"lost {lost} vs 0 -> {'met' if ok else 'NOT met'}"
            )
        print(f"load average (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        stub.shutdown()
        with psycopg.connect(args.pg_admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


if __name__ == "__main__":
    main()
