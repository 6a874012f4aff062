"""`codesieve index build` and `codesieve scan` as a user runs them (the installed console script)."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from codesieve.testing.secret_tokens import with_crc32

pytestmark = pytest.mark.integration

STDLIB = Path(sysconfig.get_paths()["stdlib"])
CODESIEVE = str(Path(sys.executable).with_name("codesieve"))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CODESIEVE, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    corpus = root / "corpus.jsonl"
    corpus.write_text(
        "".join(
            json.dumps(
                {"content": (STDLIB / n).read_text(), "repo": "python/cpython", "path": f"Lib/{n}", "licence": lic}
            )
            + "\n"
            for n, lic in (("textwrap.py", "GPL-3.0"), ("shlex.py", "MIT"))
        )
    )
    result = _run("index", "build", "--input", str(corpus), "--output", str(root / "idx"), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "indexed 2 files" in result.stdout
    return root / "idx"


def test_scan_json_reports_every_kind_and_exits_1(tmp_path: Path, index_dir: Path) -> None:
    copied = (STDLIB / "textwrap.py").read_text()[3000:6000]
    leaky = tmp_path / "leaky.py"
    leaky.write_text('# SPDX-License-Identifier: GPL-2.0\naws = "AKIAZ3MHQWER7TYU5IOP"\n' + copied)
    clean = tmp_path / "clean.py"
    clean.write_text("def add(a, b):\n    return a + b\n")
    result = _run("scan", "--json", "--index", str(index_dir), str(leaky), str(clean))
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert [r["path"] for r in report] == [str(leaky), str(clean)]
    assert report[1]["findings"] == []
    by_type = {f["type"]: f for f in report[0]["findings"]}
    assert by_type["secret"]["reason"] == "secret.aws_access_key"
    assert by_type["licence"]["reason"] == "licence.gpl"
    assert by_type["provenance"]["repo"] == "python/cpython"
    assert by_type["provenance"]["path"] == "Lib/textwrap.py"
    assert {"start", "end", "action"} <= set(by_type["provenance"])
    assert "AKIAZ3MHQWER7TYU5IOP" not in result.stdout + result.stderr


def test_scan_clean_file_exits_0_and_text_output(tmp_path: Path) -> None:
    clean = tmp_path / "clean.py"
    clean.write_text("def add(a, b):\n    return a + b\n")
    assert _run("scan", str(clean)).returncode == 0
    leaky = tmp_path / "leaky.py"
    leaky.write_text('x = 1\ntoken = "' + with_crc32("ghp_", "q7Wm2Kx9" * 3 + "Ab3D9f") + '"\n')
    result = _run("scan", str(leaky))
    assert result.returncode == 1
    assert result.stdout.strip() == f"{leaky}:2:10: secret.github_token (secret, redact)"


def test_scan_reads_config_files_with_their_syntax(tmp_path: Path) -> None:
    """Issue 19: unquoted values in YAML/.env/INI/Dockerfile/Kubernetes files, provider tokens with
    checksums, and no flags on placeholders or on a GitHub look-alike with a wrong checksum."""
    value = "Xk9" + "vQ2rL7" + "mZ4p"  # built from pieces so no scanner flags this file
    files = {
        "values.yaml": f"db:\n  host: db\n  password: {value}\n",
        ".env": f"DB_HOST=db\nDB_PASSWORD={value}\nNPM_TOKEN={with_crc32('npm_', 'Hq3Zr8Vw1Ly6Tk4Mb9Dn2Gs7Jp5Cx0')}\n",
        "setup.cfg": f"[db]\npassword = {value}\n",
        "Dockerfile": f"FROM python:3.12\nENV API_TOKEN={value}\n",
        "secret.yaml": "apiVersion: v1\nkind: Secret\nstringData:\n  dsn: " + value + "\n",
    }
    clean = {
        "ok.yaml": "db:\n  password: ${DB_PASSWORD}\n  token: <your-token>\n",
        "ok.env": "DB_PASSWORD=changeme\nGH_TOKEN=ghp_" + "q7Wm2Kx9" * 4 + "Ab3D\n",  # wrong checksum
    }
    for name, text in {**files, **clean}.items():
        (tmp_path / name).write_text(text)
    result = _run("scan", "--json", *(str(tmp_path / n) for n in [*files, *clean]))
    assert result.returncode == 1, result.stderr
    report = {Path(r["path"]).name: [f["reason"] for f in r["findings"]] for r in json.loads(result.stdout)}
    assert report == {
        "values.yaml": ["secret.secret_keyword"],
        ".env": ["secret.secret_keyword", "secret.npm_access_token"],
        "setup.cfg": ["secret.secret_keyword"],
        "Dockerfile": ["secret.secret_keyword"],
        "secret.yaml": ["secret.secret_keyword"],
        "ok.yaml": [],
        "ok.env": [],
    }
    assert value not in result.stdout + result.stderr


def test_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    clean = tmp_path / "clean.py"
    clean.write_text("x = 1\n")
    cases = [
        _run("scan", str(tmp_path / "missing.py")),
        _run("scan", "--index", str(tmp_path), str(clean)),
        _run("index", "build", "--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "o")),
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"content": "x", "repo": "r"}\n')
    cases.append(_run("index", "build", "--input", str(bad), "--output", str(tmp_path / "o")))
    for result in cases:
        assert result.returncode == 2
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_an_index_of_an_older_format_is_refused_with_one_line_naming_index_build(
    index_dir: Path, tmp_path: Path
) -> None:
    """Issue 19: format 3 fingerprints comments; a format-2 index must be rebuilt, not misread."""
    old = tmp_path / "old-idx"
    old.mkdir()
    for f in index_dir.iterdir():
        (old / f.name).write_bytes(f.read_bytes())
    meta = json.loads((old / "config.json").read_text())
    (old / "config.json").write_text(json.dumps({**meta, "format_version": 2}))
    clean = tmp_path / "clean.py"
    clean.write_text("x = 1\n")
    result = _run("scan", "--index", str(old), str(clean))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "unsupported index format 2" in result.stderr and "codesieve index build" in result.stderr


def test_parallel_scan_reports_exactly_what_one_process_reports(tmp_path: Path) -> None:
    """Issue 19 (`codesieve scan` speed): many files go to forked workers; same findings, same order."""
    sources = sorted(STDLIB.glob("*.py"))[:140]
    files = []
    for i, src in enumerate(sources):
        dst = tmp_path / f"{i:03d}_{src.name}"
        dst.write_text(src.read_text(errors="replace"))
        files.append(str(dst))
    leaky = tmp_path / "zz_leaky.py"
    leaky.write_text(f'TOKEN = "{with_crc32("ghp_", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5")}"\n')
    files.append(str(leaky))
    serial = _run("scan", "--json", "--workers", "1", *files)
    parallel = _run("scan", "--json", "--workers", "2", *files)
    assert serial.returncode == parallel.returncode == 1
    assert json.loads(parallel.stdout) == json.loads(serial.stdout)
    assert [r["path"] for r in json.loads(parallel.stdout)] == files
    assert any(f["type"] == "secret" for f in json.loads(parallel.stdout)[-1]["findings"])
    plain = _run("scan", "--workers", "2", *files)
    assert plain.stdout == _run("scan", "--workers", "1", *files).stdout and f"{leaky}:1:10:" in plain.stdout
