"""pytest plugin loaded inside the sandbox (`-p codesieve_probe`): per-test outcomes and coverage contexts.

This file is copied into the sandbox as `codesieve_probe.py` and is never imported by the host. It
writes one JSON report at the end of the session (path in $CODESIEVE_PROBE_REPORT) and, when the
session runs under `coverage run`, labels coverage with the running test's node id, so that the host
can tell which tests execute which lines (the same idea as pytest-cov's --cov-context=test).
"""

import json
import os

_results: dict[str, dict[str, object]] = {}
_cov = None


def pytest_configure():
    global _cov
    try:
        import coverage

        _cov = coverage.Coverage.current()
    except Exception:  # no coverage run: outcomes only
        _cov = None


def pytest_runtest_setup(item):
    if _cov is not None:
        _cov.switch_context(item.nodeid)


def _crash(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None) or str(report.longrepr)
    return message.strip()[:300]


def pytest_runtest_logreport(report):
    row = _results.setdefault(report.nodeid, {"outcome": "passed", "duration": 0.0})
    row["duration"] += report.duration
    if report.failed:
        if row["outcome"] != "failed":
            row["outcome"] = "failed"
            row["error"] = _crash(report)
    elif report.skipped and row["outcome"] == "passed":
        row["outcome"] = "skipped"


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("CODESIEVE_PROBE_REPORT")
    if not path:
        return
    body = {"exitstatus": int(exitstatus), "collected": session.testscollected, "tests": _results}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(body, fh)
