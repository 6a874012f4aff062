"""`codesieve eval repo mine|run|samples` end to end on a small fixture repository, in the real sandbox.

The fixture (tests/fixtures/repo_eval: a package with a pytest suite) is copied to a folder the
sandbox's unprivileged user can enter. Covered: mining (oracles, determinism, resume), the reference
completions (original 100%, NotImplementedError 0%, swapped bodies ~0%), `eval compare` on two repo
runs, hostile completions (writes into the repository, a socket, a background process: the next
sample is unaffected), and bad input (tests failing at HEAD, a hanging suite, not a repository, no
tests): one error line and a non-zero exit.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesieve.cli import build_app
from codesieve.testing.services import REPO

pytestmark = pytest.mark.integration

FIXTURE = REPO / "tests" / "fixtures" / "repo_eval"
runner = CliRunner()


def _invoke(*args: str) -> object:
    return runner.invoke(build_app(), ["eval", "repo", *args])


def _last_json(result: object) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[attr-defined]


def _one_error_line(result: object) -> str:
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    return lines[0]


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """A folder the sandbox's unprivileged user can enter (pytest's tmp folders are 0700)."""
    root = Path(tempfile.mkdtemp(prefix="codesieve-repo-eval-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _copy_fixture(workdir: Path, name: str) -> Path:
    dest = workdir / name
    shutil.copytree(FIXTURE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.fixture(scope="module")
def mined(workdir: Path) -> tuple[Path, Path, list[dict]]:
    repo = _copy_fixture(workdir, "minicalc")
    tasks = workdir / "tasks.jsonl"
    result = _invoke("mine", "--repo", str(repo), "--test-cmd", "python -m pytest -x -q", "--output", str(tasks),
                     "--workers", "2", "--no-progress")  # fmt: skip
    assert result.exit_code == 0, result.output
    return repo, tasks, [json.loads(line) for line in tasks.read_text().splitlines()]


def test_mine_finds_every_tested_function_with_an_oracle(mined: tuple[Path, Path, list[dict]]) -> None:
    repo, tasks_file, tasks = mined
    ids = {t["task_id"] for t in tasks}
    assert {"minicalc/numbers.py::gcd", "minicalc/text.py::Stack.pop", "minicalc/text.py::title_words"} <= ids
    assert not any("tests/" in i for i in ids)  # test code is never a task
    assert len([i for i in ids if i.startswith("minicalc/text.py::Stack.limit@")]) == 2  # getter and setter
    by_id = {t["task_id"]: t for t in tasks}
    clamp = by_id["minicalc/numbers.py::clamp"]
    assert "tests/test_text.py::test_title_words" in clamp["oracle"]  # a caller's test is an oracle too
    assert clamp["prefix"] + clamp["canonical_solution"] + clamp["suffix"] == (repo / clamp["path"]).read_text()
    assert "def clamp(value: float" in by_id["minicalc/text.py::title_words"]["context"]  # cross-file signatures
    assert all(t["repo_version"].startswith("sha256:") and t["oracle"] for t in tasks)
    # resume: a rerun reuses the journal (no new entry) and writes the same tasks
    journal = tasks_file.with_name(tasks_file.name + ".journal")
    before = journal.read_text()
    again = _invoke("mine", "--repo", str(repo), "--test-cmd", "python -m pytest -x -q", "--output", str(tasks_file),
                    "--no-progress")  # fmt: skip
    assert again.exit_code == 0, again.output
    assert journal.read_text() == before
    assert [json.loads(x)["task_id"] for x in tasks_file.read_text().splitlines()] == [t["task_id"] for t in tasks]


def test_mine_selection_is_deterministic_for_a_seed(workdir: Path, mined: tuple[Path, Path, list[dict]]) -> None:
    repo, _, tasks = mined
    out = workdir / "three.jsonl"
    result = _invoke("mine", "--repo", str(repo), "--output", str(out), "--max-tasks", "3", "--no-progress")
    assert result.exit_code == 0, result.output
    assert _last_json(result)["tasks"] == 3
    assert [json.loads(x)["task_id"] for x in out.read_text().splitlines()] == [t["task_id"] for t in tasks[:3]]


def _samples(workdir: Path, tasks: Path, kind: str) -> Path:
    out = workdir / f"{kind}.jsonl"
    result = _invoke("samples", "--tasks", str(tasks), "--kind", kind, "--output", str(out))
    assert result.exit_code == 0, result.output
    return out


def _run(tasks: Path, samples: Path, output: Path, *extra: str) -> dict:
    result = _invoke("run", "--tasks", str(tasks), "--samples", str(samples), "--output", str(output),
                     "--workers", "2", "--no-progress", *extra)  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads((output / "summary.json").read_text())


def test_reference_completions_and_compare(workdir: Path, mined: tuple[Path, Path, list[dict]]) -> None:
    repo, tasks_file, tasks = mined
    before = _tree_hash(repo)
    original = _run(tasks_file, _samples(workdir, tasks_file, "original"), workdir / "run-original")
    assert original["pass_at_k"]["pass@1"] == 100.0
    assert original["num_tasks"] == len(tasks)
    assert set(original["per_file"]) == {"minicalc/numbers.py", "minicalc/text.py"}
    assert "in-process" in original["verdicts"]
    results = (workdir / "run-original" / "results.jsonl").read_text()
    _run(tasks_file, workdir / "original.jsonl", workdir / "run-original")  # resume: nothing judged again
    assert (workdir / "run-original" / "results.jsonl").read_text() == results
    # NotImplementedError and swapped bodies as two samples of each task, judged in one run
    rows = [
        json.loads(x)
        for name in ("notimpl", "swap")
        for x in _samples(workdir, tasks_file, name).read_text().splitlines()
    ]
    for i, row in enumerate(rows):
        row["sample_idx"] = i // len(tasks)
    mixed = workdir / "mixed.jsonl"
    mixed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    other = _run(tasks_file, mixed, workdir / "run-mixed")
    results = [json.loads(x) for x in (workdir / "run-mixed" / "results.jsonl").read_text().splitlines()]
    notimpl = [r for r in results if r["sample_idx"] == 0]
    swapped = [r for r in results if r["sample_idx"] == 1]
    assert len(notimpl) == len(swapped) == len(tasks)
    assert {r["category"] for r in notimpl} == {"exception:NotImplementedError"}
    swap_rate = sum(r["passed"] for r in swapped) / len(swapped)
    assert swap_rate <= 0.25, swapped  # ~0: a body rarely fits another function (1 of 11 here)
    assert other["failure_modes"]["runtime_error:NotImplementedError"] == len(tasks)
    compared = runner.invoke(
        build_app(), ["eval", "compare", str(workdir / "run-original"), str(workdir / "run-mixed")]
    )
    assert compared.exit_code == 0, compared.output
    assert "tasks compared | " + str(len(tasks)) in compared.output
    assert _tree_hash(repo) == before  # nothing the samples did reached the repository


HOSTILE = {
    "writes": """    import pathlib
    for target in ("/repo/minicalc/numbers.py", __file__, "/repo/tests/test_numbers.py"):
        try:
            pathlib.Path(target).write_text("raise SystemExit('poisoned')\\n")
        except OSError:
            pass
""",
    "socket": """    import socket
    for host in ("127.0.0.1", "10.0.0.1"):
        try:
            socket.create_connection((host, PORT), timeout=1).sendall(b"leaked")
        except OSError:
            pass
""",
    "background": """    import os, subprocess
    subprocess.Popen(["/bin/sleep", "987.654"], start_new_session=True)
    if os.fork() == 0:
        os.execv("/bin/sleep", ["/bin/sleep", "987.655"])
""",
}


def _sleepers() -> list[str]:
    out = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "987.65" in text:
            out.append(text)
    return out


def test_hostile_completions_do_not_affect_the_next_sample(workdir: Path, mined: tuple[Path, Path, list[dict]]) -> None:
    repo, tasks_file, tasks = mined
    gcd = next(t for t in tasks if t["task_id"] == "minicalc/numbers.py::gcd")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    rows = []
    for name, head in HOSTILE.items():  # each hostile sample, then the original body: it must pass
        rows.append(
            {"task_id": gcd["task_id"], "completion": head.replace("PORT", str(port)) + gcd["canonical_solution"]}
        )
        rows.append({"task_id": gcd["task_id"], "completion": gcd["canonical_solution"], "note": name})
    samples = workdir / "hostile.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = _tree_hash(repo)
    _run(tasks_file, samples, workdir / "run-hostile", "--workers", "1")
    results = sorted(
        (json.loads(x) for x in (workdir / "run-hostile" / "results.jsonl").read_text().splitlines()),
        key=lambda r: r["sample_idx"],
    )
    assert len(results) == 6
    assert all(r["passed"] for r in results[1::2]), results  # the sample after each hostile one
    with pytest.raises(BlockingIOError):
        listener.accept()  # no connection came out of the sandbox
    listener.close()
    assert _tree_hash(repo) == before
    assert _sleepers() == []


def test_bad_inputs_one_error_line(workdir: Path, mined: tuple[Path, Path, list[dict]]) -> None:
    repo, tasks_file, _ = mined
    out = str(workdir / "bad.jsonl")
    assert "not a folder" in _one_error_line(_invoke("mine", "--repo", str(tasks_file), "--output", out))
    assert "no such repository" in _one_error_line(_invoke("mine", "--repo", str(workdir / "nope"), "--output", out))
    empty = workdir / "empty"
    (empty / "pkg").mkdir(parents=True)
    (empty / "pkg" / "mod.py").write_text("def f():\n    return 1\n")
    assert "no Python tests" in _one_error_line(_invoke("mine", "--repo", str(empty), "--output", out))
    (empty / "tests").mkdir()
    (empty / "tests" / "test_nothing.py").write_text("VALUE = 1\n")  # a test file without tests
    assert "collected no tests" in _one_error_line(
        _invoke("mine", "--repo", str(empty), "--output", out, "--no-progress")
    )
    failing = _copy_fixture(workdir, "failing")
    (failing / "tests" / "test_broken.py").write_text("def test_broken():\n    assert 1 == 2\n")
    assert "tests fail at HEAD: 1 failed" in _one_error_line(
        _invoke("mine", "--repo", str(failing), "--output", out, "--no-progress")
    )
    hanging = _copy_fixture(workdir, "hanging")
    (hanging / "tests" / "test_hang.py").write_text("import time\n\ndef test_hang():\n    time.sleep(3600)\n")
    assert "did not finish within 4 s" in _one_error_line(
        _invoke("mine", "--repo", str(hanging), "--output", out, "--suite-timeout", "4", "--no-progress")
    )
    assert "must run pytest" in _one_error_line(
        _invoke("mine", "--repo", str(repo), "--test-cmd", "make test", "--output", out)
    )
    assert not Path(out).exists()
    # run: tasks of another version of the repository, and a file that is not tasks
    changed = _copy_fixture(workdir, "changed")
    (changed / "minicalc" / "numbers.py").write_text((changed / "minicalc" / "numbers.py").read_text() + "\nX = 1\n")
    samples = workdir / "original.jsonl"
    err = _one_error_line(_invoke("run", "--tasks", str(tasks_file), "--samples", str(samples), "--repo", str(changed),
                                  "--output", str(workdir / "run-changed")))  # fmt: skip
    assert "mine again" in err and not (workdir / "run-changed").exists()
    err = _one_error_line(_invoke("run", "--tasks", str(samples), "--samples", str(samples),
                                  "--output", str(workdir / "run-bad")))  # fmt: skip
    assert "not a repository task" in err


@pytest.mark.vllm
def test_run_generates_through_the_gateway(
    vllm_server: object, mined: tuple[Path, Path, list[dict]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    from codesieve.testing.services import keyed_gateway

    _, tasks_file, tasks = mined
    out = tmp_path_factory.mktemp("repo-gen") / "run"
    with keyed_gateway(tmp_path_factory.mktemp("gw-repo"), vllm_server.url) as (gw, key):  # type: ignore[attr-defined]
        result = _invoke("run", "--tasks", str(tasks_file), "--endpoint", gw.url, "--api-key", key,
                         "--model", vllm_server.model_name, "--limit", "3", "--max-tokens", "24",  # type: ignore[attr-defined]
                         "--temperature", "0", "--prefix-chars", "600", "--suffix-chars", "150",
                         "--output", str(out), "--workers", "2", "--no-progress")  # fmt: skip
    assert result.exit_code == 0, result.output
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert sorted(s["task_id"] for s in samples) == sorted(t["task_id"] for t in tasks[:3])
    indent = {t["task_id"]: t["indent"] for t in tasks}
    for s in samples:  # cut where the model left the body
        assert all(line.startswith(indent[s["task_id"]]) for line in s["completion"].splitlines() if line.strip())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == vllm_server.model_name and summary["num_samples"] == 3  # type: ignore[attr-defined]
    assert all(key not in p.read_text() for p in out.iterdir())  # the API key is never written
