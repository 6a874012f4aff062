"""Inside the sandbox: copy the repository, apply the sample's file, run the tests, print one JSON line.

Copied into the sandbox as /work/driver.py and run by the system Python; never imported by the host.
Reads /work/spec.json (written by executor.py):
    repo        where the repository is mounted (read-only)
    overrides   {relative path: name of a /work file holding its new text}
    pytest      pytest arguments (node ids included)
    coverage    true: run under `coverage run`, labelled per test by the probe plugin
    env_paths   site-packages folders (mounted read-only) that hold pytest, coverage, test deps
The working copy lives in /work/r, a size-capped tmpfs that dies with the sandbox. The test process's
output goes to a file; this process's stdout carries only the JSON line the host reads.
"""

import json
import os
import shutil
import subprocess
import sys

WORK = "/work"
COPY = WORK + "/r"
SKIP = {
    ".git",
    ".hg",
    ".svn",
    ".tox",
    ".nox",
    ".venv",
    "venv",
    "node_modules",
    "__pycache__",
    ".eggs",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "build",
    "dist",
}


def _coverage_map(env_paths):
    sys.path[:0] = env_paths
    import coverage

    data = coverage.CoverageData(basename=WORK + "/.cov")
    data.read()
    out = {}
    for path in data.measured_files():
        if not path.startswith(COPY + "/"):
            continue
        per_context = {}
        for line, contexts in (data.contexts_by_lineno(path) or {}).items():
            for ctx in contexts:
                if ctx:
                    per_context.setdefault(ctx, []).append(line)
        out[path[len(COPY) + 1 :]] = per_context
    return out


def main():
    with open(WORK + "/spec.json", encoding="utf-8") as fh:
        spec = json.load(fh)
    shutil.copytree(spec["repo"], COPY, symlinks=True, ignore=lambda d, names: [n for n in names if n in SKIP])
    for rel, name in spec["overrides"].items():
        with open(os.path.join(WORK, name), "rb") as src, open(os.path.join(COPY, rel), "wb") as dst:
            dst.write(src.read())
    paths = [COPY] + ([COPY + "/src"] if os.path.isdir(COPY + "/src") else []) + [WORK]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": WORK,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONPATH": ":".join(paths + spec["env_paths"]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "CODESIEVE_PROBE_REPORT": WORK + "/report.json",
    }
    cmd = [sys.executable, "-B"]
    if spec["coverage"]:
        cmd += [
            "-m",
            "coverage",
            "run",
            "--rcfile=" + WORK + "/empty.rc",
            "--source=" + COPY,
            "--data-file=" + WORK + "/.cov",
        ]
    cmd += ["-m", "pytest", "-p", "codesieve_probe", "-p", "no:cacheprovider", "--rootdir=" + COPY] + spec["pytest"]
    with open(WORK + "/pytest.out", "wb") as out:
        code = subprocess.call(cmd, cwd=COPY, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    result = {"exit": code, "report": None, "coverage": None}
    try:
        with open(WORK + "/report.json", encoding="utf-8") as fh:
            result["report"] = json.load(fh)
    except (OSError, ValueError):
        pass
    with open(WORK + "/pytest.out", "rb") as fh:
        fh.seek(max(0, os.path.getsize(WORK + "/pytest.out") - 2000))
        result["tail"] = fh.read().decode("utf-8", "replace")
    if spec["coverage"] and code in (0, 1):
        try:
            result["coverage"] = _coverage_map(spec["env_paths"])
        except Exception as exc:  # reported, not raised: the host says what went wrong
            result["coverage_error"] = f"{type(exc).__name__}: {exc}"
    sys.stdout.write("\n" + json.dumps(result) + "\n")


main()
