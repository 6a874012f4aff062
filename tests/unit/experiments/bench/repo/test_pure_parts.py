"""Repository-level evaluation, pure parts: function spans, splicing, test commands, context, task files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codesieve.core.contamination import load_benchmark_items, load_repo_tasks
from experiments.bench.repo.context import cross_file_context, render_context
from experiments.bench.repo.functions import find_functions, reindent, split_at, stub_body
from experiments.bench.repo.generate import cut_body
from experiments.bench.repo.references import reference_samples
from experiments.bench.repo.source import RepoError, repo_version, validate_repo
from experiments.bench.repo.tasks import RepoTask, as_problems, read_tasks, tasks_jsonl
from experiments.bench.repo.test_command import parse_test_cmd

SOURCE = '''"""Module."""


def top(a, b):
    """Doc
    string."""
    # a comment before the body
    total = a + b
    return total


def one_liner(x): return x


def abstract(self):
    raise NotImplementedError


class Box:
    def __init__(self, v):
        self.v = v

    async def get(self):
        def inner():
            return self.v
        return inner()

    def stub(self):
        ...
'''


def test_find_functions_spans_and_qualnames() -> None:
    spans = {s.qualname: s for s in find_functions(SOURCE)}
    assert set(spans) == {"top", "Box.__init__", "Box.get", "Box.get.<locals>.inner"}
    top = spans["top"]
    assert (top.def_line, top.body_start, top.end_line, top.indent) == (4, 8, 9, "    ")
    assert spans["Box.get.<locals>.inner"].indent == " " * 12


def test_split_and_splice_round_trip() -> None:
    for span in find_functions(SOURCE):
        prefix, body, suffix = split_at(SOURCE, span)
        assert prefix + body + suffix == SOURCE
        assert prefix.endswith("\n") and body.startswith(span.indent)
    span = find_functions(SOURCE)[0]
    prefix, _, suffix = split_at(SOURCE, span)
    assert '"""Doc\n    string."""\n    # a comment before the body\n' in prefix
    compile(prefix + stub_body(span.indent) + suffix, "x.py", "exec")


def test_find_functions_refuses_broken_source() -> None:
    with pytest.raises(SyntaxError):
        find_functions("def f(:\n    pass\n")


def test_reindent_and_cut_body() -> None:
    assert reindent("    a = 1\n        b\n\n", "    ", "\t") == "\ta = 1\n\t    b\n\n"
    text = "    x = 1\n\n    return x\ndef other():\n    pass\n"
    assert cut_body(text, "    ") == "    x = 1\n\n    return x\n"
    assert cut_body("return 1", "    ") == ""  # not indented: the model left the body at once
    assert cut_body("    return 1", "    ") == "    return 1\n"


@pytest.mark.parametrize(
    ("cmd", "options", "paths"),
    [
        ("pytest", (), ()),
        ("python -m pytest -x -q tests", ("-q",), ("tests",)),
        ("python3 -m pytest -xq -k 'not slow' tests/unit", ("-q", "-k", "not slow"), ("tests/unit",)),
        ("/usr/bin/python3 -m pytest --maxfail 2 --tb=short", ("--tb=short",), ()),
        ("py.test --maxfail=1 -p no:warnings a b", ("-p", "no:warnings"), ("a", "b")),
    ],
)
def test_parse_test_cmd(cmd: str, options: tuple[str, ...], paths: tuple[str, ...]) -> None:
    parsed = parse_test_cmd(cmd)
    assert (parsed.options, parsed.paths) == (options, paths)
    assert parsed.node_args(["t.py::x"]) == [*options, "t.py::x"]


@pytest.mark.parametrize("cmd", ["make test", "python -c 'import pytest'", "", "pytest 'unbalanced", "pytest -k"])
def test_parse_test_cmd_refuses(cmd: str) -> None:
    with pytest.raises(ValueError, match="test-cmd"):
        parse_test_cmd(cmd)


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_cross_file_context_resolves_repository_imports(tmp_path: Path) -> None:
    repo = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/util.py": "def helper(a, *, b=1):\n    return a\n\ndef _private():\n    pass\n\nclass K:\n"
            "    def __init__(self, x):\n        pass\n    def m(self):\n        pass\n",
            "pkg/main.py": "import os\nfrom . import util\nfrom pkg.util import helper\n\ndef f():\n    return 1\n",
        },
    )
    context = cross_file_context(repo, Path("pkg/main.py"), (repo / "pkg/main.py").read_text())
    assert context.startswith("# pkg/util.py\n")
    assert "def helper(a, *, b=1): ..." in context and "    def __init__(self, x): ..." in context
    assert "_private" not in context and "os" not in context
    assert cross_file_context(repo, Path("pkg/main.py"), (repo / "pkg/main.py").read_text(), max_chars=10) == ""
    assert render_context("a\n\nb").splitlines()[1:] == ["# a", "#", "# b", ""]


def test_validate_repo_errors(tmp_path: Path) -> None:
    with pytest.raises(RepoError, match="no such repository"):
        validate_repo(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(RepoError, match="not a folder"):
        validate_repo(tmp_path / "file.txt")
    with pytest.raises(RepoError, match="no .py files"):
        validate_repo(tmp_path)
    _write(tmp_path, {"lib.py": "def f():\n    return 1\n", ".venv/test_x.py": ""})
    with pytest.raises(RepoError, match="no Python tests"):
        validate_repo(tmp_path)
    _write(tmp_path, {"tests/test_lib.py": "def test_f():\n    pass\n"})
    assert [str(p) for p in validate_repo(tmp_path)] == ["lib.py", "tests/test_lib.py"]
    first = repo_version(tmp_path, validate_repo(tmp_path))
    assert first.startswith("sha256:")
    (tmp_path / "lib.py").write_text("def f():\n    return 2\n")
    assert repo_version(tmp_path, validate_repo(tmp_path)) != first


def _task(task_id: str, body: str, indent: str = "    ", **kw: object) -> RepoTask:
    fields = {
        "task_id": task_id,
        "path": "m.py",
        "qualname": task_id.split("::")[-1],
        "prefix": f"import os\n\n\ndef {task_id.split('::')[-1]}(x):\n",
        "suffix": "",
        "canonical_solution": body,
        "indent": indent,
        "def_line": 4,
        "body_start": 5,
        "body_end": 5,
        "context": "",
        "oracle": ("t.py::test",),
        "oracle_time_s": 0.1,
        "repo": "/r",
        "repo_version": "sha256:1",
        "test_args": (),
    }
    fields.update(kw)
    return RepoTask(**fields)  # type: ignore[arg-type]


def test_reference_samples() -> None:
    tasks = [_task("m.py::a", "    return 1\n"), _task("m.py::b", "    return 2\n"), _task("m.py::c", "    return 1\n")]
    swapped = {s.task_id: s.completion for s in reference_samples(tasks, "swap")}
    assert swapped == {"m.py::a": "    return 2\n", "m.py::b": "    return 1\n", "m.py::c": "    return 2\n"}
    assert {s.completion for s in reference_samples(tasks, "notimpl")} == {"    raise NotImplementedError\n"}
    with pytest.raises(ValueError):
        reference_samples(tasks, "bogus")  # type: ignore[arg-type]


def test_tasks_file_round_trip_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    tasks = [_task("m.py::a", "    return x\n")]
    path.write_text(tasks_jsonl(tasks))
    assert read_tasks(path) == tasks
    assert json.loads(path.read_text())["function"] == "def a(x):\n    return x\n"
    bad = {
        "empty": "",
        "not json": "{nope\n",
        "not an object": "[1]\n",
        "missing fields": '{"task_id": "x"}\n',
        "two repos": tasks_jsonl([tasks[0], _task("m.py::b", "    pass\n", repo="/other")]),
        "duplicates": tasks_jsonl(tasks * 2),
        "escaping path": tasks_jsonl([_task("m.py::a", "    pass\n", path="../../etc/passwd.py")]),
        "absolute path": tasks_jsonl([_task("m.py::a", "    pass\n", path="/etc/x.py")]),
    }
    for name, text in bad.items():
        path.write_text(text)
        with pytest.raises(ValueError):
            read_tasks(path)
        assert name
    path.write_bytes(b"\xff\xfe binary")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_tasks(path)


def test_decontamination_loads_the_mined_functions(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text(tasks_jsonl([_task("m.py::a", "    return x\n")]))
    items = load_repo_tasks(path)
    assert [(i.benchmark, i.task_id, i.field, i.text) for i in items] == [
        ("repo:tasks", "m.py::a", "function", "def a(x):\n    return x\n")
    ]
    assert load_benchmark_items(f"repo:{path}") == items
    (problem,) = as_problems(read_tasks(path))  # what `eval contamination --benchmark repo:FILE` looks for
    assert (problem.task_id, problem.prompt) == ("m.py::a", items[0].text)
    (tmp_path / "plain.jsonl").write_text('{"task_id": "x"}\n')
    with pytest.raises(ValueError, match="not a repository task"):
        load_repo_tasks(tmp_path / "plain.jsonl")
    with pytest.raises(ValueError, match="not found"):
        load_benchmark_items(f"repo:{tmp_path / 'missing.jsonl'}")


def test_prompt_window_keeps_whole_lines_near_the_cursor() -> None:
    from experiments.bench.repo.generate import PromptWindow, prompt_and_suffix

    task = _task(
        "m.py::a", "    return x\n", context="# pkg/u.py\ndef u(): ...", suffix="\n\ndef b():\n    pass\n" * 50
    )
    prompt, suffix = prompt_and_suffix(task, PromptWindow())
    assert prompt.startswith("# Signatures from other files") and prompt.endswith(task.prefix)
    assert suffix == task.suffix
    prompt, suffix = prompt_and_suffix(task, PromptWindow(prefix_chars=20, suffix_chars=25))
    assert prompt == "\n\ndef a(x):\n" and suffix == "\n\ndef b():\n    pass\n\n\n"
    assert len(prompt) <= 20 and len(suffix) <= 25
