"""Dedup throughput and memory vs datasketch's MinHash.bulk, on real code files.

Run:  .venv/bin/python benchmarks/dedup_throughput.py [--sizes 2000,8000] [--sig-files 2000]

Prints, on one core:
- signature throughput (files/s) of codesieve.core.minhash vs `datasketch.MinHash.bulk` with the same
  permutations (num_perm=256, seed=1) and hash function, on the same precomputed shingles;
- end-to-end `codesieve dedup run` throughput (files/s per core: read, lex, shingle, sign, band,
  group, cluster, write) and its peak RSS, each size in a fresh process, at two corpus sizes,
  with the ratio to the issue's targets (>= 500 files/s per core; peak memory flat as the corpus
  grows: the RSS growth from the smallest to the largest size is printed).
Both wall-clock and CPU-time rates are shown: on a shared machine CPU time is the per-core figure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dedup_corpus import real_code_files, to_record, write_jsonl

# issue #6's end-to-end target, files/s per core
TARGET_FILES_PER_S = 500


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>8.0f}"


def bench_signatures(n_files: int) -> None:
    import numpy as np
    from datasketch import MinHash

    from codesieve.core.minhash import (
        build_hasher,
        datasketch_hashfunc,
        shingle_hashes_from_tokens,
        signature,
        signature_from_hashes,
    )
    from codesieve.core.shingling import code_tokens, shingles
    from dedup.config import MinhashConfig

    files = real_code_files(n_files, seed=1)
    tokens = [code_tokens(p.read_text(errors="replace")) for p in files]
    docs = [[s.encode() for s in shingles(t, 5)] for t in tokens]
    n = len(docs)
    print(f"\n## Signatures: {n} files, {sum(map(len, docs))} shingles, num_perm=256, seed=1, one core")
    print("files/s in CPU time (wall time in brackets); every signature checked equal to datasketch's")
    print(
        f"{'hash':>8} {'datasketch bulk':>22} {'ours, same shingles':>24} {'ratio':>6} "
        f"{'ours, from lexemes*':>24} {'ratio':>6}"
    )
    for hash_fn in ("sha1_32", "xxh32"):
        hasher = build_hasher(MinhashConfig(hash_fn=hash_fn))  # type: ignore[arg-type]
        signature_from_hashes(shingle_hashes_from_tokens(["a"] * 5, 5, hash_fn), hasher)  # JIT warm-up
        timings = {}
        t0, c0 = time.perf_counter(), time.process_time()
        ref = MinHash.bulk(docs, num_perm=256, seed=1, hashfunc=datasketch_hashfunc(hash_fn))
        timings["ds"] = (time.perf_counter() - t0, time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        ours = [signature(d, hasher) for d in docs]
        timings["same"] = (time.perf_counter() - t0, time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        from_tokens = [signature_from_hashes(shingle_hashes_from_tokens(t, 5, hash_fn), hasher) for t in tokens]
        timings["tok"] = (time.perf_counter() - t0, time.process_time() - c0)
        for sigs in (ours, from_tokens):
            assert all(np.array_equal(m.hashvalues, s) for m, s in zip(ref, sigs, strict=True))
        (dw, dc), (sw, sc), (tw, tc) = timings["ds"], timings["same"], timings["tok"]
        print(
            f"{hash_fn:>8} {_rate(n, dc)} ({_rate(n, dw)}) {_rate(n, sc)} ({_rate(n, sw)}) {dc / sc:>5.2f}x "
            f"{_rate(n, tc)} ({_rate(n, tw)}) {dc / tc:>5.2f}x"
        )
    print("* from lexemes: includes building the shingles, which datasketch is given ready-made")


def _child_end_to_end(corpus: str, out: str) -> None:
    # runs in a fresh interpreter so ru_maxrss is this run's peak alone
    from dedup.config import MinhashConfig
    from dedup.runners.local import run_local

    t0, c0 = time.perf_counter(), time.process_time()
    result = run_local(MinhashConfig(), [corpus], out, progress=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forking parent
    status = Path("/proc/self/status").read_text()
    peak_kib = int(next(x for x in status.splitlines() if x.startswith("VmHWM:")).split()[1])
    print(
        json.dumps(
            {
                "wall_s": wall,
                "cpu_s": cpu,
                "peak_rss_mib": peak_kib / 1024,
                "docs": result.report["totals"]["input_docs"],
                "removed": result.report["totals"]["removed_exact_docs"] + result.report["totals"]["removed_near_docs"],
            }
        )
    )


def bench_end_to_end(sizes: list[int]) -> None:
    print("\n## End to end (`dedup run`, local engine, one process, fresh interpreter per size)")
    print(
        f"{'files':>7} {'MiB in':>7} {'files/s (cpu)':>14} {'vs 500':>7} {'files/s (wall)':>15} "
        f"{'peak RSS MiB':>13} {'removed':>8}"
    )
    peaks = []
    with tempfile.TemporaryDirectory(prefix="dedup-bench-") as tmp:
        for n in sizes:
            records = [to_record(p) for p in real_code_files(n, seed=2)]
            corpus = write_jsonl(records, Path(tmp) / f"corpus-{n}.jsonl")
            del records
            proc = subprocess.run(
                [sys.executable, __file__, "--child", str(corpus), str(Path(tmp) / f"out-{n}")],
                check=True,
                capture_output=True,
                text=True,
            )
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            mib = corpus.stat().st_size / 2**20
            rate = r["docs"] / r["cpu_s"]
            peaks.append(r["peak_rss_mib"])
            print(
                f"{n:>7} {mib:>7.1f} {rate:>14.0f} {rate / TARGET_FILES_PER_S:>6.2f}x "
                f"{r['docs'] / r['wall_s']:>15.0f} {r['peak_rss_mib']:>13.0f} {r['removed']:>8}"
            )
    if len(sizes) > 1:
        print(
            f"peak RSS {peaks[0]:.0f} -> {peaks[-1]:.0f} MiB for {sizes[-1] / sizes[0]:.0f}x the files "
            f"({(peaks[-1] / peaks[0] - 1) * 100:+.0f}%; target: flat)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,8000", help="end-to-end corpus sizes (files)")
    parser.add_argument("--sig-files", type=int, default=2000, help="files for the signature bench")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child_end_to_end(*args.child)
        return
    bench_signatures(args.sig_files)
    bench_end_to_end([int(s) for s in args.sizes.split(",")])


if __name__ == "__main__":
    main()
