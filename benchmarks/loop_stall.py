"""Event-loop stall: /health latency from another client while worst-case requests run (issue 13).

    .venv/bin/python benchmarks/loop_stall.py [--seconds 8] [--probe-ms 10]

Starts a stub upstream (as benchmarks/gateway_overhead.py --stub) and `codesieve serve` on it, then,
for each kind of worst-case request, sends that request back to back (one at a time) for --seconds
while a probe client GETs /health every --probe-ms, and prints the probe's p50/p99/max per kind.
Kinds: the three of the issue (a persisted event with a 199,000-character current_text, /v1/scan of
"eyJ" repeated to the scan cap, a completion whose prompt is "eyJ" repeated to the prompt cap) and
the worst ones found since (keyword regexes on "pwd`" and "api_key" repeats, deeply nested JSON).
Target: /health p99 <= 50 ms for every kind. Before issue 13 the first three stalled it 43.9 s,
10.2 s and 2.3 s. The figures include the shared host's noise: the idle row is the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from gateway_overhead import _start_stub  # noqa: E402

from codesieve.testing.services import create_key, start_gateway, stop_process_group  # noqa: E402

TARGET_P99_MS = 50.0
PROMPT_CHARS = 64 * 1024  # CODESIEVE_MAX_PROMPT_CHARS default, and /v1/scan's cap


def _fill(unit: str, chars: int = PROMPT_CHARS) -> str:
    return unit * (chars // len(unit))


def _kinds(completion_id: str) -> dict[str, Callable[[], tuple[str, Any]]]:
    """name -> (path, JSON body or raw bytes) of one worst-case request."""
    persisted = {
        "kind": "persisted",
        "completion_id": completion_id,
        "after_s": 30,
        "current_text": _fill("y = g(z)\n", 199_000),
    }
    return {
        "idle (no request)": lambda: ("", None),
        "persisted current_text 199,000 chars": lambda: ("/v1/events", persisted),
        'scan "eyJ" x 21845': lambda: ("/v1/scan", {"text": _fill("eyJ")}),
        'completion prompt "eyJ" x 21845': lambda: ("/v1/completions", {"prompt": _fill("eyJ"), "max_tokens": 8}),
        'scan "pwd`" x 16384': lambda: ("/v1/scan", {"text": _fill("pwd`")}),
        'completion prompt "pwd`" x 16384': lambda: ("/v1/completions", {"prompt": _fill("pwd`"), "max_tokens": 8}),
        'scan "api_key" x 9362': lambda: ("/v1/scan", {"text": _fill("api_key")}),
        "JSON nested 100,000 deep": lambda: ("/v1/completions", b"[" * 100_000 + b"]" * 100_000),
    }


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


async def _probe(url: str, every_s: float, stop: asyncio.Event, out: list[float]) -> None:
    async with aiohttp.ClientSession() as probe:  # its own connection: another client
        while not stop.is_set():
            started = time.perf_counter()
            async with probe.get(f"{url}/health") as r:
                await r.read()
            out.append((time.perf_counter() - started) * 1000.0)
            await asyncio.sleep(max(0.0, every_s - (time.perf_counter() - started)))


async def _measure(
    url: str, key: str, path: str, body: Any, seconds: float, every_s: float
) -> tuple[list[float], int, set[int]]:
    stop = asyncio.Event()
    latencies: list[float] = []
    probe = asyncio.create_task(_probe(url, every_s, stop, latencies))
    sent, statuses = 0, set()
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as client:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            if not path:
                await asyncio.sleep(0.05)
                continue
            kwargs = {"data": body} if isinstance(body, bytes) else {"json": body}
            async with client.post(f"{url}{path}", headers=headers, **kwargs) as r:
                await r.read()
                statuses.add(r.status)
            sent += 1
    stop.set()
    await probe
    return latencies, sent, statuses


async def _completion_id(url: str, key: str) -> str:
    async with aiohttp.ClientSession() as client:
        async with client.post(
            f"{url}/v1/completions", json={"prompt": "def f(x):\n"}, headers={"Authorization": f"Bearer {key}"}
        ) as r:
            return str((await r.json())["id"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0, help="seconds of worst-case requests per kind")
    ap.add_argument("--probe-ms", type=float, default=10.0, help="interval of the /health probe")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cs-stall-"))
    stub, upstream = _start_stub(5.0)
    db_url = f"sqlite:///{tmp / 'bench.db'}"
    key = create_key(db_url, user="bench")
    gw = start_gateway(
        tmp / "gw",
        db_url=db_url,
        upstream=upstream,
        env={"CODESIEVE_RATE_LIMIT_PER_S": "100000", "CODESIEVE_RATE_LIMIT_BURST": "100000"},
    )
    verdicts = []
    try:
        cid = asyncio.run(_completion_id(gw.url, key))
        for name, make in _kinds(cid).items():
            path, body = make()
            lat, sent, statuses = asyncio.run(_measure(gw.url, key, path, body, args.seconds, args.probe_ms / 1000))
            p99 = _pct(lat, 0.99)
            ok = p99 <= TARGET_P99_MS
            verdicts.append(ok)
            print(
                f"{name:38s} requests {sent:4d} statuses {sorted(statuses)!s:11s} | /health n={len(lat):4d} "
                f"p50 {_pct(lat, 0.5):6.2f} ms p99 {p99:7.2f} ms max {max(lat):7.2f} ms -> "
                f"{'met' if ok else 'NOT met'}",
                flush=True,
            )
    finally:
        stop_process_group(gw.proc)
        stop_process_group(stub)
    print(
        f"target: /health p99 <= {TARGET_P99_MS:.0f} ms while each kind runs -> {'met' if all(verdicts) else 'NOT met'}"
    )
    print(f"load average during the run (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
