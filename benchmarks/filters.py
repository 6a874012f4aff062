"""Performance of the filter chain: index build, size, RAM, per-completion latency, secret scanner.

    .venv/bin/python benchmarks/filters.py --only build   [--source-mb 1024] [--workers 2]
    .venv/bin/python benchmarks/filters.py --only latency [--queries 1000]
    .venv/bin/python benchmarks/filters.py --only secrets [--secret-mb 2]

(no --only runs all three). The corpus is local source code outside this repository
(.venv site-packages, the Python stdlib, and every other source tree on the machine: Go, C/C++
headers, the Cloud SDK, Node, JDK src.zip, ...; content-deduplicated; see
filters_data.all_local_source_roots); --source-mb caps it, and the printed figures say how much
was actually indexed. The index and its samples live under var/bench/ (git-ignored): build once,
then run --only latency as often as needed.
Targets (issue 3): p99 <= 5 ms per 40-line completion on one core; index RAM <= 1.5x the indexed
source; the secret scanner's findings identical to detect-secrets' per-line scan with the same
plugins, and >= 20x faster.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from filters_data import (  # noqa: E402
    SECRET_MAKERS,
    all_local_source_roots,
    is_held_out,
    package_key,
    read_text,
    sample_completion,
    secret_line,
    source_files,
)

ROOT = Path(__file__).resolve().parents[1]
LICENCES = ["GPL-3.0-only", "MIT", "Apache-2.0", "LGPL-2.1", "BSD-3-Clause", "unknown"]


def _pin_one_core() -> int:
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def _cpu_s() -> float:
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.iterdir()) / 1e6


def run_build(args: argparse.Namespace) -> None:
    from codesieve.core.index_store import build_index, save_index

    rng = random.Random(args.seed)
    samples: list[dict[str, str]] = []
    source_bytes = 0
    files = 0

    def records():  # type: ignore[no-untyped-def]
        nonlocal source_bytes, files
        for package, path in source_files(roots=all_local_source_roots(args.index_dir.parent / "src")):
            text = read_text(path)
            if text is None:
                continue
            held = is_held_out(package_key(package, path))
            # 40-line completions for the latency run: copies of indexed files and novel code.
            if len(samples) < 2 * args.queries and rng.random() < 0.1:
                s = sample_completion(text, rng, exact_lines=40)
                if s is not None:
                    samples.append({"before": s[0][-2000:], "completion": s[1], "kind": "novel" if held else "copy"})
            if held:
                continue
            source_bytes += len(text.encode("utf-8"))
            files += 1
            yield {"content": text, "repo": package, "path": str(path), "licence": LICENCES[files % len(LICENCES)]}
            if source_bytes >= args.source_mb * 1_000_000:
                return

    from codesieve.core.index import IndexConfig

    # --no-comments: the "before" index of issue 19 (format-2 lexing: comments dropped, no repo limit).
    config = IndexConfig(count_comments=False, max_repos=0) if args.no_comments else IndexConfig()
    started = time.perf_counter()
    index = build_index(records(), config, workers=args.workers)
    build_s = time.perf_counter() - started
    build_cpu_s = _cpu_s()
    save_index(index, args.index_dir)
    total_s = time.perf_counter() - started
    meta = {"source_bytes": source_bytes, "files": files, "build_s": build_s}
    (args.index_dir.parent / f"{args.index_dir.name}.bench.json").write_text(
        json.dumps({"meta": meta, "samples": samples})
    )
    disk = _dir_mb(args.index_dir)
    print(f"== index build ({args.workers} workers) ==")
    limit = "; that is all the local source outside the repo" if source_bytes < args.source_mb * 1_000_000 else ""
    print(f"indexed source       {source_bytes / 1e6:9.1f} MB in {files} files (requested {args.source_mb} MB{limit})")
    print(f"fingerprints         {len(index):9d}")
    print(
        f"build time           {build_s:9.1f} s  ({source_bytes / 1e6 / build_s:.2f} MB/s; {total_s:.1f} s with save)"
    )
    print(f"build CPU time       {build_cpu_s:9.1f} s  (this process + fingerprinting workers)")
    print(f"size on disk         {disk:9.1f} MB  ({disk * 1e6 / source_bytes:.2f}x source)")
    print(f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (build time is wall-clock)")


def run_latency(args: argparse.Namespace) -> None:
    import numpy as np

    from codesieve.core.index_store import load_index, warm_index
    from gateway.filters.chain import FilterChain

    cpu = _pin_one_core()
    bench = json.loads((args.index_dir.parent / f"{args.index_dir.name}.bench.json").read_text())
    source_bytes = bench["meta"]["source_bytes"]
    samples = bench["samples"]
    rss0 = _rss_mb()
    started = time.perf_counter()
    index = load_index(args.index_dir)
    load_s = time.perf_counter() - started
    rss_loaded = _rss_mb()
    warm_s = None
    if not args.cold:  # what the gateway does at start-up, in a background thread
        started = time.perf_counter()
        warm_index(index)
        warm_s = time.perf_counter() - started
    chain = FilterChain(index=index)
    copies = [s for s in samples if s["kind"] == "copy"][: args.queries // 2]
    novel = [s for s in samples if s["kind"] == "novel"][: args.queries - len(copies)]
    queries = copies + novel
    for s in queries[:20]:  # warm-up: imports, detect-secrets plugin set-up
        chain.check_completion(s["completion"], context_before=s["before"])
    if args.compare_dir is not None:
        _compare_latency(args, chain, queries)
    passes = []
    for _ in range(2):  # pass 1: index pages faulted in from the page cache; pass 2: resident
        # passes: [wall pass 1, cpu pass 1, wall pass 2, cpu pass 2]
        timings, cpu_timings = [], []
        blocked = annotated = 0
        for s in queries:
            t0, c0 = time.perf_counter(), time.thread_time()
            result = chain.check_completion(s["completion"], context_before=s["before"])
            timings.append((time.perf_counter() - t0) * 1000)
            cpu_timings.append((time.thread_time() - c0) * 1000)
            blocked += result.is_blocked
            annotated += any(f.type == "provenance" for f in result.findings)
        passes.append(np.array(timings))
        passes.append(np.array(cpu_timings))
    rss_after = _rss_mb()
    ms = passes[0]
    arrays_mb = sum(getattr(index, n).nbytes for n in ("hashes", "doc_ids", "positions", "lines")) / 1e6
    print(
        f"== full chain on 40-line completions (cpu {cpu} only; {len(copies)} copies of indexed "
        f"files + {len(novel)} novel) =="
    )
    print(
        f"index                {source_bytes / 1e6:.1f} MB of source, {len(index)} fingerprints, "
        f"loaded in {load_s * 1000:.0f} ms"
    )
    print(
        "index pages          cold (--cold): the first queries fault them in"
        if warm_s is None
        else f"index pages          warmed in {warm_s:.2f} s before the queries (the gateway does this at start-up)"
    )
    print(f"latency p50          {np.percentile(ms, 50):7.2f} ms")
    print(
        f"latency p99          {np.percentile(ms, 99):7.2f} ms   target <= 5 ms ({np.percentile(ms, 99) / 5:.2f}x)  "
        f"{'PASS' if np.percentile(ms, 99) <= 5 else 'FAIL'}"
    )
    print(f"latency mean/max     {ms.mean():7.2f} / {ms.max():.2f} ms")
    print(f"second pass (warm)   p50 {np.percentile(passes[2], 50):.2f} ms, p99 {np.percentile(passes[2], 99):.2f} ms")
    cpu_p99 = np.percentile(passes[1], 99)
    print(
        f"CPU time (thread)    pass 1 p50 {np.percentile(passes[1], 50):.2f} ms, p99 "
        f"{cpu_p99:.2f} ms; pass 2 p50 {np.percentile(passes[3], 50):.2f} ms, "
        f"p99 {np.percentile(passes[3], 99):.2f} ms (excludes waiting for the shared core)"
    )
    print(
        f"CPU p99 / target     {cpu_p99:.2f} / 5 ms = {cpu_p99 / 5:.2f}  "
        f"{'PASS' if cpu_p99 <= 5 else 'FAIL'} on CPU time (the wall-clock verdict above is the one "
        f"that counts on an idle machine)"
    )
    print(
        f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (timings are "
        f"wall-clock on a shared core)"
    )
    print(f"provenance findings  {annotated}/{len(queries)} completions ({blocked} blocked)")
    print(f"RSS before load      {rss0:7.1f} MB; after load {rss_loaded:.1f} MB; after queries {rss_after:.1f} MB")
    resident = rss_after - rss0
    worst = arrays_mb + (rss_loaded - rss0)
    print(f"index RAM (resident) {resident:7.1f} MB = {resident * 1e6 / source_bytes:.2f}x source")
    print(
        f"index RAM (all pages resident: arrays {arrays_mb:.1f} MB + metadata) {worst:.1f} MB "
        f"= {worst * 1e6 / source_bytes:.2f}x source   target <= 1.5x  "
        f"{'PASS' if worst * 1e6 / source_bytes <= 1.5 else 'FAIL'}"
    )


def _compare_latency(args: argparse.Namespace, chain: object, queries: list[dict[str, str]]) -> None:
    """Side by side with a second index (--compare-dir), interleaved query by query (order
    alternating), both warmed: wall-clock ms per full filter chain."""
    import numpy as np

    from codesieve.core.index_store import load_index, warm_index
    from gateway.filters.chain import FilterChain

    other = load_index(args.compare_dir)
    warm_index(other)
    chains = {"--index-dir": chain, "--compare-dir": FilterChain(index=other)}
    times: dict[str, list[float]] = {name: [] for name in chains}
    found = dict.fromkeys(chains, 0)
    for i, s in enumerate(queries * 2):
        names = list(chains) if i % 2 == 0 else list(reversed(chains))
        for name in names:
            t0 = time.perf_counter()
            result = chains[name].check_completion(s["completion"], context_before=s["before"])  # type: ignore[attr-defined]
            times[name].append((time.perf_counter() - t0) * 1000)
            found[name] += any(f.type == "provenance" for f in result.findings)
    print(f"== side by side, interleaved ({len(queries)} queries x 2 passes, both indexes warmed) ==")
    for name, path in (("--index-dir", args.index_dir), ("--compare-dir", args.compare_dir)):
        ms = np.array(times[name])
        print(
            f"{name:14s} {str(path):40s} p50 {np.percentile(ms, 50):6.2f} ms  p99 {np.percentile(ms, 99):6.2f} ms  "
            f"mean {ms.mean():6.2f} ms  provenance findings {found[name] // 2}/{len(queries)}"
        )
    print(f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def _secret_text(mb: float, rng: random.Random) -> str:
    parts: list[str] = []
    size = 0
    detectors = sorted(SECRET_MAKERS)
    for _, path in source_files():
        if path.suffix != ".py":
            continue
        text = read_text(path)
        if text is None:
            continue
        lines = text.splitlines()
        # A planted secret every ~200 lines, every detector in turn.
        for i in range(0, len(lines), 200):
            lines.insert(i + rng.randrange(0, 200), secret_line(detectors[(i // 200) % len(detectors)], rng)[0])
        parts.append("\n".join(lines))
        size += len(parts[-1])
        if size >= mb * 1_000_000:
            break
    return "\n".join(parts)


def run_secrets(args: argparse.Namespace) -> None:
    from codesieve.core.secret_scan import ALL_DETECTORS, DEFAULT_DETECTORS, OWN_DETECTORS, scan_secret_values
    from codesieve.testing.reference_scans import detect_secrets_per_line

    cpu = _pin_one_core()
    text = _secret_text(args.secret_mb, random.Random(args.seed))
    n_lines = text.count("\n") + 1
    print(
        f"== secret scanner vs detect-secrets per-line scan (cpu {cpu} only; {len(text) / 1e6:.2f} MB, "
        f"{n_lines} lines of real code with planted secrets) =="
    )
    for name, detectors in (("default detectors", DEFAULT_DETECTORS), ("all detectors", ALL_DETECTORS)):
        scan_secret_values(text[:10000], detectors=detectors)  # warm-up (plugin construction)
        theirs, their_s = detect_secrets_per_line(text, detectors)
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            ours = scan_secret_values(text, detectors=detectors, parity=True)
            best = min(best, time.perf_counter() - started)
        ours_set = {(i, d, v) for i, d, v, _ in ours}
        same = ours_set == theirs
        print(
            f"{name:18s} findings ours {len(ours_set)} / detect-secrets {len(theirs)}: "
            f"{'IDENTICAL' if same else 'DIFFERENT'}; time ours {best * 1000:.0f} ms vs "
            f"{their_s * 1000:.0f} ms = {their_s / best:.1f}x faster  target >= 20x  "
            f"{'PASS' if same and their_s / best >= 20 else 'FAIL'}"
        )
        if not same:
            for item in sorted(ours_set ^ theirs)[:5]:
                print(f"    only in {'ours' if item in ours_set else 'detect-secrets'}: line {item[0]} {item[1]}")
    # Default mode: the scanner the gateway and CLIs run (detect-secrets' plugins plus our provider
    # formats with checksums, look-alike filters), timed against detect-secrets' scan of its own plugins.
    _, their_default_s = detect_secrets_per_line(text, DEFAULT_DETECTORS)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        scan_secret_values(text)
        best = min(best, time.perf_counter() - started)
    ratio = their_default_s / best
    print(
        f"default mode (+{len(DEFAULT_DETECTORS & OWN_DETECTORS)} own detectors): {best * 1000:.0f} ms vs "
        f"detect-secrets {their_default_s * 1000:.0f} ms = {ratio:.1f}x faster  target >= 20x  "
        f"{'PASS' if ratio >= 20 else 'FAIL'}"
    )
    default_mode = {(i, d) for i, d, _, _ in scan_secret_values(text)}
    parity_mode = {(i, d) for i, d, _, _ in scan_secret_values(text, parity=True)}
    print(
        f"default mode (indirect-reference filter only for keyword/entropy guesses): "
        f"{len(default_mode - parity_mode)} extra findings over parity mode"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source-mb", type=int, default=1024, help="source code to index (MB)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--index-dir", type=Path, default=ROOT / "var" / "bench" / "index")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument(
        "--cold", action="store_true", help="skip warm_index (the gateway pages the index in at start-up)"
    )
    parser.add_argument("--secret-mb", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["build", "latency", "secrets"], default=None)
    parser.add_argument(
        "--no-comments", action="store_true", help="build: comments dropped, no repo limit (before issue 19)"
    )
    parser.add_argument("--compare-dir", type=Path, default=None, help="latency: time this index side by side")
    args = parser.parse_args()
    if args.only in (None, "build"):
        run_build(args)
    if args.only in (None, "latency"):
        run_latency(args)
    if args.only in (None, "secrets"):
        run_secrets(args)


if __name__ == "__main__":
    main()
