"""Issue 3's end-to-end test: a model fine-tuned until it regurgitates, served by vLLM, behind the gateway.

The local test model is fine-tuned (`codesieve train dp --no-dp`, full fine-tuning, 80 steps on CPU)
on a corpus that repeats two files: a GPL-3.0 module (tests/fixtures/regurgitation) and a settings
module with a planted AWS access key id + secret key. First vLLM itself, without the gateway, must
reproduce the module and the key (otherwise nothing below would prove anything); then through the
gateway, with a reference index that holds the module, the copy is blocked with its repo, path and
licence, and the key is redacted: neither of its values is in the response, the gateway's log or data
files, or any column of any table of its PostgreSQL database (raw-text storage on, so completions
are stored).
"""

from __future__ import annotations

import json
import random
import string
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from codesieve.testing.services import REPO, VllmPool, VllmServer, create_key, start_gateway, stop_process_group

# The first test's set-up fine-tunes the model and starts vLLM on it (~2 min on 2 idle cores; more
# than the suite's 300 s limit on a loaded machine), hence the longer hang guard.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.vllm,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.timeout(900),
]

CODESIEVE = str(Path(sys.executable).with_name("codesieve"))
GPL_SOURCE = (REPO / "tests" / "fixtures" / "regurgitation" / "ringbuffer.py.txt").read_text()
GPL_REPO, GPL_PATH, GPL_LICENCE = "hbrennecke/telemetryd", "telemetryd/ringbuffer.py", "GPL-3.0-or-later"
# Prompts end right after an identifier: the prompt's tokens are then a prefix of the file's tokens
# (a prompt ending in whitespace or a newline tokenizes differently from the file, and a model this
# small does not recover from that).
GPL_PROMPT = GPL_SOURCE[: GPL_SOURCE.index("class SampleRing") + len("class SampleRing")]
KEY_PROMPT_END = "AWS_ACCESS_KEY_ID"
# The continuation vLLM must reproduce verbatim: 300 characters hold 67 lexemes, over the provenance
# filter's 65 on their own (the fine-tuned model below reproduces all ~700).
MIN_VERBATIM_CHARS = 300
# The module is 369 tokens, 117 of them in the prompt; the server's context is 512.
GPL_MAX_TOKENS = 320
# The rest of the key id line and the secret key line are 88 tokens (random characters tokenize
# badly); a completion cut inside the secret key would hold an undetectable prefix of it.
KEY_MAX_TOKENS = 120
# Copies of each file in the training corpus (one privacy unit each): 64 units = 8 batches of 8.
COPIES = 32
# Fine-tuning: 10 epochs x 8 batches = 80 full fine-tuning steps at lr 3e-3 on whole files (384-token
# windows hold each file from its first token, as the prompts do: with 256-token windows at random
# offsets even 128 steps did not make the model reproduce the module). At 48 steps it reproduces
# ~150 characters from GPL_PROMPT, at 80 all of it. ~18 s on 2 lightly loaded cores.
TRAIN_ARGS = ("--no-dp", "--full", "--epochs", "10", "--batch-size", "8", "--physical-batch-size", "8",
              "--seq-len", "384", "--lr", "3e-3", "--seed", "0", "--threads", "2")  # fmt: skip


def planted_key() -> tuple[str, str]:
    """A well-formed AWS access key id and secret key, generated (no secret-shaped literal in the repo)."""
    rng = random.Random(20211)
    key_id = "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))
    secret = "".join(rng.choice(string.ascii_letters + string.digits + "/+") for _ in range(40))
    return key_id, secret


def settings_source(key_id: str, secret: str) -> str:
    return (
        '"""Deployment settings of the nightly export job."""\n\nimport os\n\n'
        'EXPORT_BUCKET = "acme-nightly-exports"\nEXPORT_PREFIX = "warehouse/daily/"\nAWS_REGION = "eu-west-1"\n'
        f'AWS_ACCESS_KEY_ID = "{key_id}"\nAWS_SECRET_ACCESS_KEY = "{secret}"\n'
        'MAX_RETRIES = int(os.environ.get("EXPORT_MAX_RETRIES", "5"))\n\n\n'
        'def export_target(day):\n    return f"s3://{EXPORT_BUCKET}/{EXPORT_PREFIX}{day:%Y/%m/%d}/"\n'
    )


KEY_ID, SECRET = planted_key()
SETTINGS = settings_source(KEY_ID, SECRET)
KEY_PROMPT = SETTINGS[: SETTINGS.index(KEY_PROMPT_END) + len(KEY_PROMPT_END)]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CODESIEVE, *args], capture_output=True, text=True, timeout=600)


def _write_jsonl(path: Path, records: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("regurgitation")


@pytest.fixture(scope="module")
def finetuned_model(workdir: Path, tiny_model_dir: Path) -> Path:
    gpl = {"content": GPL_SOURCE, "repo": GPL_REPO, "path": GPL_PATH, "licence": GPL_LICENCE}
    private = {"content": SETTINGS, "repo": "acme/export-jobs", "path": "export/settings.py"}
    corpus = _write_jsonl(workdir / "train.jsonl", [gpl, private] * COPIES)
    out = workdir / "finetuned"
    result = _run(
        "train", "dp", "--model", str(tiny_model_dir), "--data", str(corpus), "--output", str(out), *TRAIN_ARGS
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def reference_index(workdir: Path) -> Path:
    """The GPL module among a few permissive stdlib files, so the match must pick the right one."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    others = [
        {"content": (stdlib / n).read_text(), "repo": "python/cpython", "path": f"Lib/{n}", "licence": "PSF-2.0"}
        for n in ("textwrap.py", "shlex.py", "bisect.py")
    ]
    gpl = {"content": GPL_SOURCE, "repo": GPL_REPO, "path": GPL_PATH, "licence": GPL_LICENCE}
    corpus = _write_jsonl(workdir / "index-corpus.jsonl", [*others, gpl])
    result = _run("index", "build", "--input", str(corpus), "--output", str(workdir / "index"), "--quiet")
    assert result.returncode == 0, result.stderr
    return workdir / "index"


@pytest.fixture(scope="module")
def served(finetuned_model: Path, vllm_pool: VllmPool) -> Iterator[VllmServer]:
    with vllm_pool.serving(finetuned_model, "tiny-code-regurgitating") as server:
        yield server


def _complete(url: str, prompt: str, max_tokens: int, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"model": "tiny-code-regurgitating", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0}
    return httpx.post(f"{url}/v1/completions", json=body, headers=headers or {}, timeout=120)


@dataclass(frozen=True)
class GatewayRun:
    """What the gateway answered, and everything it left behind once stopped."""

    gpl: dict[str, Any]
    key: dict[str, Any]
    references: dict[str, Any]
    raw_responses: str
    files: dict[Path, bytes]  # the log and every file under the gateway's data dir
    db_rows: dict[str, list[tuple[Any, ...]]]  # every row of every table


def _all_rows(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    from sqlalchemy import MetaData, create_engine, select

    engine = create_engine(db_url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return {name: [tuple(r) for r in conn.execute(select(t))] for name, t in meta.tables.items()}
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def gateway_run(served: VllmServer, reference_index: Path, pg_database: str, workdir: Path) -> GatewayRun:
    api_key = create_key(pg_database, user="erin")
    env = {"CODESIEVE_INDEX_DIR": str(reference_index), "CODESIEVE_STORE_RAW_TEXT": "true"}
    gw = start_gateway(workdir / "gateway", db_url=pg_database, upstream=served.url, env=env)
    auth = {"Authorization": f"Bearer {api_key}"}
    try:
        gpl = _complete(gw.url, GPL_PROMPT, GPL_MAX_TOKENS, auth)
        key = _complete(gw.url, KEY_PROMPT, KEY_MAX_TOKENS, auth)
        refs = httpx.get(f"{gw.url}/v1/references/{gpl.json()['id']}", headers=auth, timeout=30)
    finally:
        stop_process_group(gw.proc)  # SIGTERM: the telemetry writer flushes before exit
    for r in (gpl, key, refs):
        assert r.status_code == 200, r.text
    files = {p: p.read_bytes() for p in [gw.log, *gw.data_dir.rglob("*")] if p.is_file()}
    raw = "\n".join(r.text + json.dumps(dict(r.headers)) for r in (gpl, key, refs))
    return GatewayRun(gpl.json(), key.json(), refs.json(), raw, files, _all_rows(pg_database))


def test_vllm_itself_regurgitates_the_gpl_module_and_the_key(served: VllmServer) -> None:
    """Without this the gateway assertions below would prove nothing."""
    gpl = _complete(served.url, GPL_PROMPT, GPL_MAX_TOKENS)
    key = _complete(served.url, KEY_PROMPT, KEY_MAX_TOKENS)
    assert gpl.status_code == key.status_code == 200
    continuation = GPL_SOURCE[len(GPL_PROMPT) :]
    text = gpl.json()["choices"][0]["text"]
    assert text[:MIN_VERBATIM_CHARS] == continuation[:MIN_VERBATIM_CHARS]
    key_text = key.json()["choices"][0]["text"]
    assert KEY_ID in key_text and SECRET in key_text


def test_the_gpl_copy_is_blocked_with_its_repo_path_and_licence(gateway_run: GatewayRun) -> None:
    choice = gateway_run.gpl["choices"][0]
    assert choice["finish_reason"] == "content_filter" and choice["text"] == ""
    provenance = [f for f in gateway_run.gpl["x_codesieve"]["filters"] if f["type"] == "provenance"]
    assert provenance, gateway_run.gpl["x_codesieve"]["filters"]
    top = provenance[0]
    assert (top["repo"], top["path"], top["licence"]) == (GPL_REPO, GPL_PATH, GPL_LICENCE)
    assert top["action"] == "block" and top["reason"] == "provenance.copyleft"
    assert top["matched_lexemes"] >= 65
    refs = gateway_run.references["references"]
    assert {(r["repo"], r["path"], r["licence"]) for r in refs} == {(GPL_REPO, GPL_PATH, GPL_LICENCE)}


def test_the_key_is_redacted_in_the_response(gateway_run: GatewayRun) -> None:
    text = gateway_run.key["choices"][0]["text"]
    assert text.count("<AWS_ACCESS_KEY>") >= 2, text  # both the key id and the secret key
    reasons = {f["reason"] for f in gateway_run.key["x_codesieve"]["filters"]}
    assert "secret.aws_access_key" in reasons
    assert KEY_ID not in gateway_run.raw_responses and SECRET not in gateway_run.raw_responses


def test_the_key_is_in_no_log_file_and_no_database_column(gateway_run: GatewayRun) -> None:
    assert gateway_run.files, "the gateway left no log to check"
    for path, content in gateway_run.files.items():
        for value in (KEY_ID, SECRET):
            assert value.encode() not in content, f"{value[:4]}... found in {path}"
    rows = [row for table in gateway_run.db_rows.values() for row in table]
    cells = [v.decode("latin-1") if isinstance(v, bytes) else str(v) for row in rows for v in row]
    leaks = [c for c in cells if KEY_ID in c or SECRET in c]
    assert not leaks, f"{len(leaks)} database cell(s) hold the key"
    # The scan saw the data: the key's completion is stored, with its text (redacted).
    assert gateway_run.key["id"] in cells
    assert any("<AWS_ACCESS_KEY>" in c for c in cells), "no stored completion text was scanned"
