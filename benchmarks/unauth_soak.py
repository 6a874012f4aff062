"""Unauthenticated memory soak: hostile requests without a valid key must not grow the gateway (issue 13).

    .venv/bin/python benchmarks/unauth_soak.py [--requests 10000] [--concurrency 8]

Starts a stub upstream (as benchmarks/gateway_overhead.py --stub) and `codesieve serve`, warms it up
with valid requests, records its RSS, then sends --requests hostile unauthenticated requests, each
with unique values: a 1 MiB X-Machine-Id, a 1 MiB bearer token (both over the header cap), and,
for the bulk, header values just under the cap (a 30 KiB bearer token; a 30 KiB X-Machine-Id with
a wrong key; a 200-character unknown key) from one address and the status counts. Before issue 13,
150 requests with 1 MiB machine ids grew RSS by 153 MB and 150 with 1 MiB tokens by 150 MB more.
Target: RSS growth <= 20 MB after the soak.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from gateway_overhead import _start_stub  # noqa: E402

from codesieve.testing.services import create_key, start_gateway, stop_process_group  # noqa: E402

TARGET_MB = 20.0
MIB = 1024 * 1024


def _hostile_headers(i: int) -> dict[str, str]:
    """Unique hostile headers for request i (a mix; the 1 MiB ones are 1 in 40 of the requests)."""
    token = secrets.token_hex(16)
    kind = i % 40
    if kind == 0:
        return {"X-Machine-Id": token + "m" * MIB}
    if kind == 1:
        return {"Authorization": "Bearer " + token + "k" * MIB}
    if kind % 3 == 0:
        return {"Authorization": "Bearer " + token + "k" * (30 * 1024)}
    if kind % 3 == 1:
        return {"X-Machine-Id": token + "m" * (30 * 1024), "Authorization": f"Bearer cs-{token}"}
    return {"Authorization": f"Bearer cs-{token}{'x' * 160}", "X-Machine-Id": token * 4}


def _rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / MIB


async def _send(url: str, n: int, concurrency: int, statuses: collections.Counter[int]) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    paths = ["/v1/events", "/v1/completions", "/v1/models"]

    async def worker() -> None:
        async with aiohttp.ClientSession(max_line_size=2 * MIB, max_field_size=2 * MIB) as client:
            while not queue.empty():
                i = queue.get_nowait()
                path = paths[i % len(paths)]
                method = "GET" if path == "/v1/models" else "POST"
                try:
                    async with client.request(method, f"{url}{path}", headers=_hostile_headers(i), data=b"{}") as r:
                        await r.read()
                        statuses[r.status] += 1
                except aiohttp.ClientError as exc:
                    statuses[f"error: {type(exc).__name__}"] += 1  # type: ignore[index]

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _warm(url: str, key: str, n: int) -> None:
    async with aiohttp.ClientSession() as client:
        for i in range(n):
            headers = {"Authorization": f"Bearer {key}", "X-Machine-Id": f"warm-{i % 4}"}
            async with client.post(f"{url}/v1/completions", json={"prompt": "def f(x):\n"}, headers=headers) as r:
                await r.read()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cs-soak-"))
    stub, upstream = _start_stub(1.0)
    db_url = f"sqlite:///{tmp / 'bench.db'}"
    key = create_key(db_url, user="bench")
    gw = start_gateway(tmp / "gw", db_url=db_url, upstream=upstream)
    try:
        asyncio.run(_warm(gw.url, key, 200))
        time.sleep(1.0)
        before = _rss_mb(gw.proc.pid)
        statuses: collections.Counter[int] = collections.Counter()
        started = time.perf_counter()
        asyncio.run(_send(gw.url, args.requests, args.concurrency, statuses))
        elapsed = time.perf_counter() - started
        time.sleep(1.0)
        after = _rss_mb(gw.proc.pid)
    finally:
        stop_process_group(gw.proc)
        stop_process_group(stub)
    growth = after - before
    print(
        f"{args.requests} hostile unauthenticated requests in {elapsed:.1f} s, "
        f"statuses {dict(sorted(statuses.items(), key=str))}"
    )
    print(f"gateway RSS {before:.1f} MB -> {after:.1f} MB: growth {growth:+.1f} MB")
    print(f"target: RSS growth <= {TARGET_MB:.0f} MB -> {'met' if growth <= TARGET_MB else 'NOT met'}")
    print(f"load average during the run (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
