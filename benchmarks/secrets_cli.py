"""Secret scanning CLI against CLI: `codesieve scan` vs `detect-secrets scan` on the same files.

    .venv/bin/python benchmarks/secrets_cli.py [--files 2000] [--seed 0]

The corpus is local code and configuration outside this repository (the venv's site-packages:
.py, .json, .yaml, .toml, .cfg, .ini, .sh files), a seeded sample copied into a temporary
directory with the files' own names. Both tools run as a user runs them, one process over all the
files (wall clock, start-up included): `codesieve scan --json FILE...` (every filter: secrets with
each file's config syntax, licence text) and `detect-secrets scan --all-files FILE...` (its default plugins
and filters). Target (issue 19): codesieve >= 20x faster.

`--baseline-pythonpath DIR` also times `codesieve scan` with PYTHONPATH=DIR (another checkout's code,
e.g. the main branch before a change) on the same files, in the same run: before/after side by side.
`codesieve scan` uses every CPU this process may use (--workers); --workers 1 pins it to one process.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
SUFFIXES = {".py", ".json", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".sh"}


def _corpus(n: int, seed: int) -> list[Path]:
    site = next(Path(sys.prefix, "lib").glob("python3*/site-packages"))
    found = sorted(
        p for p in site.rglob("*") if p.suffix in SUFFIXES and p.is_file() and 0 < p.stat().st_size < 200_000
    )
    return random.Random(seed).sample(found, min(n, len(found)))


_CPU_S: dict[str, float] = {}  # command name -> CPU seconds (user + system) of its process tree


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(cmd: list[str], cwd: str, pythonpath: str | None = None) -> tuple[float, str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    started, cpu0 = time.perf_counter(), _children_cpu_s()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=cwd, env=env)
    elapsed = time.perf_counter() - started
    # Waited-for children (and their own waited-for workers) are counted on exit: CPU time is
    # what the work costs whatever else shares the cores; the wall clock is the figure that counts.
    _CPU_S[f"{Path(cmd[0]).name}{'' if pythonpath is None else ' (baseline)'}"] = _children_cpu_s() - cpu0
    if done.returncode not in (0, 1):
        raise SystemExit(f"{cmd[0]} failed ({done.returncode}): {done.stderr[-500:]}")
    return elapsed, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="codesieve scan --workers (default: all CPUs)")
    parser.add_argument("--baseline-pythonpath", default=None, help="also time codesieve with this PYTHONPATH")
    args = parser.parse_args()
    sources = _corpus(args.files, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, src in enumerate(sources):
            dst = Path(tmp, f"{i:05d}", src.name)
            dst.parent.mkdir()
            shutil.copyfile(src, dst)
            files.append(str(dst.relative_to(tmp)))
        mb = sum(Path(tmp, f).stat().st_size for f in files) / 1e6
        # Both run inside the corpus directory with relative paths: detect-secrets skips paths
        # outside the git repository it is started in.
        workers = [] if args.workers is None else ["--workers", str(args.workers)]
        if args.baseline_pythonpath:
            base_s, base_out = _timed(
                [str(BIN / "codesieve"), "scan", "--json", *files], tmp, os.path.abspath(args.baseline_pythonpath)
            )
        ours_s, ours_out = _timed([str(BIN / "codesieve"), "scan", "--json", *workers, *files], tmp)
        theirs_s, theirs_out = _timed([str(BIN / "detect-secrets"), "scan", "--all-files", *files], tmp)
    ours_flagged = sum(1 for r in json.loads(ours_out) if any(f["type"] == "secret" for f in r["findings"]))
    theirs_flagged = len(json.loads(theirs_out)["results"])
    ratio = theirs_s / ours_s
    print(f"== {len(files)} files, {mb:.1f} MB (site-packages code and config, seed {args.seed})")
    print(f"codesieve scan:      {ours_s:6.1f} s, files with secrets {ours_flagged}")
    print(f"detect-secrets scan: {theirs_s:6.1f} s, files with secrets {theirs_flagged}")
    print(f"codesieve is {ratio:.1f}x faster  target >= 20x  {'PASS' if ratio >= 20 else 'FAIL'}")
    if args.baseline_pythonpath:
        same = json.loads(base_out) == json.loads(ours_out)
        print(
            f"baseline ({args.baseline_pythonpath}): {base_s:6.1f} s = {theirs_s / base_s:.1f}x detect-secrets; "
            f"this checkout {base_s / ours_s:.2f}x the baseline's speed; findings identical: {same}"
        )
    print("CPU seconds (user + system, process trees): " + ", ".join(f"{k} {v:.1f}" for k, v in _CPU_S.items()))
    print(f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
