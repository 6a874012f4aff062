"""The gateway's commands: keys are printed once and stored hashed; errors are one line and non-zero."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

CLI = str(Path(sys.executable).parent / "codesieve")


def _run(*args: str, env_home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, env={"HOME": str(env_home), "PATH": "/usr/bin"})


def test_keys_create_prints_the_key_alone_on_the_last_line_and_stores_a_hash(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'k.db'}"
    out = _run("keys", "create", "--user", "erin", "--admin", "--db", db, env_home=tmp_path)
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip().splitlines()[-1]
    assert key.startswith("cs_") and len(key) > 30 and out.stdout.strip() == key
    with create_engine(db).connect() as conn:
        rows = conn.execute(text("SELECT user, is_admin, key_hash FROM api_keys")).all()
    assert len(rows) == 1 and rows[0].user == "erin" and rows[0].is_admin
    assert key not in rows[0].key_hash
    listed = _run("keys", "list", "--db", db, env_home=tmp_path)
    assert "erin" in listed.stdout and key not in listed.stdout


def test_serve_without_a_model_is_a_clear_error(tmp_path: Path) -> None:
    out = _run("serve", "--data-dir", str(tmp_path / "empty"), env_home=tmp_path)
    assert out.returncode != 0
    assert "no model at" in out.stderr and "Traceback" not in out.stderr


def test_bad_database_url_is_a_clear_error(tmp_path: Path) -> None:
    out = _run("keys", "create", "--user", "x", "--db", "postgresql://nobody@127.0.0.1:1/none", env_home=tmp_path)
    assert out.returncode != 0
    assert "error:" in out.stderr and "Traceback" not in out.stderr


def test_serve_with_workers_needs_an_upstream(tmp_path: Path) -> None:
    # The embedded vLLM runs once; N worker processes would each start their own.
    out = _run("serve", "--workers", "2", "--data-dir", str(tmp_path / "w"), env_home=tmp_path)
    assert out.returncode != 0
    assert "--workers above 1 needs --upstream" in out.stderr and "Traceback" not in out.stderr


def test_serve_refuses_an_unreadable_reference_index_with_one_line(tmp_path: Path) -> None:
    index = tmp_path / "old-index"
    index.mkdir()
    (index / "config.json").write_text('{"format_version": 1}')
    out = subprocess.run(
        [CLI, "serve", "--upstream", "http://127.0.0.1:9", "--data-dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin", "CODESIEVE_INDEX_DIR": str(index)},
        timeout=60,
    )
    assert out.returncode == 2
    assert "unsupported index format 1" in out.stderr and "codesieve index build" in out.stderr
    assert "Traceback" not in out.stderr
