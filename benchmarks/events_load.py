"""Event intake under load: a loopback load generator against a gateway backed by PostgreSQL.

    .venv/bin/python benchmarks/events_load.py [--duration 30] [--concurrency 32] [--batch 1]

It creates a throwaway PostgreSQL database (default server: 127.0.0.1:5432, override with
--pg-admin URL), starts `codesieve serve` on it, creates 200 completions, then posts `shown` /
`accepted` events with unique client ids for --duration seconds. After a graceful stop it counts
the rows: lost = acknowledged events missing from the database, duplicated = rows beyond one per id.
Prints sustained events/s, request latency p50/p99, lost and duplicated counts.
Target (issue #4): >= 2,000 events/s sustained with p99 <= 10 ms and zero lost, on 2 cores.

The upstream is a stub HTTP server answering a fixed completion (named as such: this measures
the events path, not vLLM).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from services import create_key, start_gateway, stop_process_group  # noqa: E402


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


async def _load(
    url: str, key: str, cids: list[str], *, duration_s: float, concurrency: int, batch: int
) -> tuple[list[str], list[float]]:
    acked: list[str] = []
    latencies: list[float] = []
    stop_at = time.perf_counter() + duration_s
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=30
    ) as client:

        async def worker(w: int) -> None:
            n = 0
            while time.perf_counter() < stop_at:
                events = []
                for _ in range(batch):
                    eid = f"w{w}-{n}"
                    n += 1
                    events.append(
                        {
                            "kind": "shown" if n % 2 else "accepted",
                            "completion_id": cids[n % len(cids)],
                            "event_id": eid,
                        }
                    )
                t0 = time.perf_counter()
                r = await client.post("/v1/events", json=events if batch > 1 else events[0])
                latencies.append((time.perf_counter() - t0) * 1000)
                if r.status_code == 202:
                    acked.extend(e["event_id"] for e in events)

        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return acked, latencies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--batch", type=int, default=1, help="events per POST")
    ap.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/test")
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
        )
        try:
            cids = [
                httpx.post(
                    f"{gw.url}/v1/completions", json={"prompt": "x = "}, headers={"Authorization": f"Bearer {key}"}
                ).json()["id"]
                for _ in range(200)
            ]
            started = time.perf_counter()
            acked, lat = asyncio.run(
                _load(gw.url, key, cids, duration_s=args.duration, concurrency=args.concurrency, batch=args.batch)
            )
            elapsed = time.perf_counter() - started
        finally:
            stop_process_group(gw.proc)  # graceful: the writer flushes its journal
        with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
            stored = [r[0] for r in conn.execute("SELECT client_event_id FROM events")]
        lost = len(set(acked) - set(stored))
        dup = len(stored) - len(set(stored))
        print(
            f"events acknowledged {len(acked)} in {elapsed:.1f} s -> {len(acked) / elapsed:,.0f} events/s "
            f"({len(lat) / elapsed:,.0f} requests/s, batch {args.batch}, concurrency {args.concurrency})"
        )
        print(f"request latency p50 {_pct(lat, 0.5):.2f} ms  p99 {_pct(lat, 0.99):.2f} ms")
        print(f"lost {lost}  duplicated {dup}  (rows in PostgreSQL: {len(stored)})")
    finally:
        stub.shutdown()
        with psycopg.connect(args.pg_admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


if __name__ == "__main__":
    main()
