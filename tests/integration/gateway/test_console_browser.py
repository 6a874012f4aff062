"""The operator console in a real browser: Debian's Chromium, headless, driven by Playwright.

A real `codesieve serve` process on PostgreSQL, with seeded telemetry (simulated A/B traffic copied
in with the A/B tests' COPY helper, and filter-action completions through the repository's insert).
The upstream is FakeHangingUpstream (fault-injection fake: it answers /health and /v1/models only);
no completion is requested here. Screenshots of every page go to CONSOLE_SCREENSHOTS (printed).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from codesieve.testing.services import REPO, GatewayProcess, create_key, start_gateway, stop_process_group
from fakes import FakeHangingUpstream

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

CHROMIUM = "/usr/bin/chromium"  # Debian's package (scripts/install-sysdeps.sh); never a downloaded build
CONSOLE_SCREENSHOTS = Path(os.environ.get("CODESIEVE_TEST_ARTIFACTS", REPO / ".pytest_cache")) / "console-screenshots"
EXPERIMENT = "fim-v2"
PLANTED_SECRET = "AKIAZ7QXJ4EXAMPLEKEY"  # an AWS-style access key id that a stored prompt once held
PLANTED_CODE = "def planted_raw_code_marker(x):"


@dataclass
class Console:
    gw: GatewayProcess
    admin_key: str
    user_key: str
    start: datetime


def _seed(db_url: str, start: datetime) -> None:
    """Four days of A/B traffic (plus its pre-period) and three completions with filter actions."""
    from experiments.ab.queries import copy_export_frame
    from experiments.ab.simulation import simulate_export_frame
    from gateway.db import build_async_engine
    from gateway.telemetry.repository import insert_rows

    frame = simulate_export_frame(
        np.random.default_rng(7),
        n_units=300,
        experiment=EXPERIMENT,
        start=np.datetime64(start.replace(tzinfo=None)),
        days=4,
        effect_relative=0.25,
    )
    engine = create_engine(db_url)
    copy_export_frame(engine, frame)
    engine.dispose()
    base = {"unit_id": "u-filters", "model": "tiny-code", "language": "python", "request_shape": "openai"}
    reference = {"repo": "acme/widgets", "path": "src/widget.py", "licence": "MIT", "licence_family": "mit",
                 "line_start": 10, "line_end": 42, "similarity": 0.97, "matched_lexemes": 120}  # fmt: skip
    rows = [
        {
            **base,
            "id": f"cmpl-filter-{i}",
            "created_at": datetime.now(UTC) - timedelta(hours=i),
            "latency_ms": 40.0,
            "filter_action": action,
            "filter_reasons": json.dumps(reasons),
            "attributions": attributions,
            # as if an earlier deployment had stored raw text: the console must still not show it
            "prompt_text": f"{PLANTED_CODE}\n    key = '{PLANTED_SECRET}'",
            "completion_text": PLANTED_CODE,
        }  # fmt: skip
        for i, (action, reasons, attributions) in enumerate(
            [
                ("redacted", ["secret.aws_access_key"], None),
                ("blocked", ["licence.gpl"], None),
                ("annotated", ["provenance.permissive"], json.dumps([reference])),
            ]
        )
    ]

    async def insert() -> None:
        async_engine = build_async_engine(db_url)
        try:
            await insert_rows(async_engine, "completions", rows)
        finally:
            await async_engine.dispose()

    asyncio.run(insert())


@pytest.fixture(scope="module")
def console(pg_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    upstream = FakeHangingUpstream()
    admin_key = create_key(pg_database, user="olga", admin=True)  # also migrates the database to head
    user_key = create_key(pg_database, user="dev1")
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    _seed(pg_database, start)
    gw = start_gateway(tmp_path_factory.mktemp("console"), db_url=pg_database, upstream=upstream.url)
    try:
        yield Console(gw, admin_key, user_key, start)
    finally:
        stop_process_group(gw.proc)
        upstream.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: run `make sysdeps` (installs Debian's chromium)")
    if CONSOLE_SCREENSHOTS.exists():
        shutil.rmtree(CONSOLE_SCREENSHOTS)
    CONSOLE_SCREENSHOTS.mkdir(parents=True)
    print(f"\nconsole screenshots: {CONSOLE_SCREENSHOTS}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


def _cli(*args: str) -> Any:
    from codesieve.cli import build_app

    result = CliRunner().invoke(build_app(), list(args))
    assert result.exit_code == 0, result.output
    return result


def _sign_in(page: Any, url: str, key: str) -> Any:
    page.goto(f"{url}/console/")
    assert page.url.endswith("/console/login")  # signed out: the console sends you to sign in
    page.fill("input[name=api_key]", key)
    with page.expect_response(f"{url}/console/login") as answer:
        page.click("button[type=submit]")
    return answer.value


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(CONSOLE_SCREENSHOTS / f"{name}.png"), full_page=True)


def test_non_admin_key_is_refused_with_403(console: Console, browser: Any) -> None:
    page = browser.new_context().new_page()
    answer = _sign_in(page, console.gw.url, console.user_key)
    assert answer.status == 403
    assert "admin keys only" in page.inner_text("#message")
    _shot(page, "refused-non-admin")
    page.goto(f"{console.gw.url}/console/keys")
    assert page.url.endswith("/console/login")  # no session was made


def test_console_pages_with_seeded_telemetry(console: Console, browser: Any, tmp_path: Path) -> None:
    url, db = console.gw.url, console.gw.db_url
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    html: dict[str, str] = {}

    def visit(name: str, path: str | None = None) -> None:
        if path is not None:
            page.goto(f"{url}{path}")
        html[name] = page.content()
        _shot(page, name)

    assert _sign_in(page, url, console.admin_key).status == 303  # to the overview
    assert page.url == f"{url}/console/"
    cookie = next(c for c in context.cookies() if c["name"] == "codesieve_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    assert 0 < cookie["expires"] - datetime.now(UTC).timestamp() <= 8 * 3600 + 5

    # --- overview: its numbers are the CLI's for the same data (closed days from the daily rollups,
    # which the gateway builds in the background at start-up)
    for _ in range(60):
        page.goto(f"{url}/console/health")
        if page.inner_text("#rollups").startswith("rows before"):
            break
        page.wait_for_timeout(500)
    hour = datetime.now(UTC).strftime("%Y-%m-%d %H:00 UTC")
    assert page.inner_text("#rollups") == f"rows before {hour}"
    page.goto(f"{url}/console/")
    assert "(1 ms)" in page.inner_text(".tiles")
    visit("overview")
    page.screenshot(path=str(CONSOLE_SCREENSHOTS / "overview-viewport.png"))
    export = tmp_path / "t.parquet"
    _cli("telemetry", "export", "--output", str(export), "--db", db)
    import pyarrow.parquet as pq

    exported = pq.read_table(export).to_pandas()
    assert page.inner_text("#completions") == str(int((exported["record_type"] == "completion").sum()))
    shown = int(((exported["record_type"] == "event") & (exported["kind"] == "shown")).sum())
    accepted = int(((exported["record_type"] == "event") & (exported["kind"] == "accepted")).sum())
    assert page.inner_text("#acceptance-rate") == f"{100 * accepted / shown:.2f}%"
    report = json.loads(_cli("ab", "report", "--experiment", EXPERIMENT, "--db", db, "--format", "json").stdout)
    acceptance = next(m for m in report["comparisons"][0]["metrics"] if m["metric"] == "acceptance_rate")
    for side in ("control", "treatment"):
        arm = acceptance[side]
        row = page.locator(f"#by-arm tr[data-experiment='{EXPERIMENT}'][data-arm='{arm['arm']}'] td.acceptance")
        assert row.inner_text() == f"{100 * arm['mean']:.2f}%"
    assert "secret.aws_access_key" in page.inner_text("#reasons")
    assert page.locator("#chart-completions svg").count() == 1

    # a filter narrows the numbers: the filter-action completions are the only python ones
    page.goto(f"{url}/console/?language=python")
    assert page.inner_text("#completions") == "3"
    page.goto(f"{url}/console/?since=not-a-date")
    assert "is not a date" in page.inner_text("#message")

    # --- experiments: create with the API's validation, then the live report
    page.goto(f"{url}/console/experiments")
    page.fill("textarea[name=definition]", '[[experiments]]\nname = "broken"\narms = [{ name = "only-one" }]\n')
    page.click("form.editor button[type=submit]")
    assert "at least 2 items" in page.inner_text("#error")
    definition = (
        f'[[experiments]]\nname = "{EXPERIMENT}"\nstart = {console.start.isoformat().replace("+00:00", "Z")}\n'
        'arms = [{ name = "control" }, { name = "treatment", overrides = { temperature = 0.2 } }]\n'
    )
    page.fill("textarea[name=definition]", definition)
    page.click("form.editor button[type=submit]")
    assert page.inner_text("#note") == f"saved: {EXPERIMENT}"
    assert page.locator(f"#experiments tr[data-name='{EXPERIMENT}']").count() == 1
    visit("experiments")
    cli_report = json.loads(_cli("ab", "report", "--experiment", EXPERIMENT, "--db", db, "--format", "json").stdout)
    page.goto(f"{url}/console/experiments/{EXPERIMENT}")
    page.wait_for_selector("#report", timeout=60_000)  # computed in the background; the page reloads
    visit("experiment-report")
    assert page.inner_text("#verdict-treatment") == f"treatment: {cli_report['comparisons'][0]['verdict']}"
    assert "Sample ratio check" in page.inner_text("#report")
    assert page.locator(".plots img").count() >= 2

    page.goto(f"{url}/console/experiments")
    page.click(f"#experiments tr[data-name='{EXPERIMENT}'] button")
    assert page.inner_text("#note") == f"stopped: {EXPERIMENT}"
    assert page.inner_text(f"#experiments tr[data-name='{EXPERIMENT}'] td:nth-child(5)") != "-"
    page.click(f"#experiments tr[data-name='{EXPERIMENT}'] button")  # stopping twice never reopens it
    assert page.inner_text("#error") == f"{EXPERIMENT} has already stopped"

    # --- filters & references, health
    visit("filters", "/console/filters")
    log = page.inner_text("#filter-log")
    assert "licence.gpl" in log and "acme/widgets" in log and "src/widget.py:10-42" in log and "MIT" in log
    visit("health", "/console/health")
    assert page.inner_text("#pending-segments") == "0"
    from alembic.script import ScriptDirectory

    from gateway.db import MIGRATIONS_DIR

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert f"postgresql reachable, schema {head}" in page.inner_text("#health")

    # --- keys: create (shown once), revoke; the revoked key stops working on the API
    page.goto(f"{url}/console/keys")
    page.fill("input[name=user]", "erin")
    page.click("form.narrow button[type=submit]")
    new_key = page.inner_text("#new-key-value").strip()
    new_id = page.inner_text("#new-key").split("Key ")[1].split(" ")[0]
    visit("keys-created")
    page.goto(f"{url}/console/keys")
    assert new_key not in page.content()  # shown once
    page.click(f"#keys tr[data-key-id='{new_id}'] button")
    assert page.inner_text(f"#keys tr[data-key-id='{new_id}'] td.status").startswith("revoked")
    visit("keys")
    assert context.request.get(f"{url}/v1/experiments", headers={"Authorization": f"Bearer {new_key}"}).status == 401

    # --- a forged CSRF token is refused, and changes nothing
    keys_before = page.locator("#keys tr").count()
    forged = context.request.post(f"{url}/console/keys", form={"csrf": "forged", "user": "mallory"})
    assert forged.status == 403
    page.goto(f"{url}/console/keys")
    assert page.locator("#keys tr").count() == keys_before and "mallory" not in page.content()

    # --- nothing secret or raw on any page
    session_token = cookie["value"]
    for name, body in html.items():
        for needle in (PLANTED_SECRET, PLANTED_CODE, console.admin_key, console.user_key, session_token):
            assert needle not in body, f"{name} page shows {needle[:6]}..."

    # --- sign out: the session is gone
    page.click("form.signout button")
    assert page.url.endswith("/console/login")
    page.goto(f"{url}/console/health")
    assert page.url.endswith("/console/login")

    engine = create_engine(db)
    with engine.connect() as conn:
        audit = {(r.action, r.outcome) for r in conn.execute(text("SELECT action, outcome FROM console_audit"))}
    engine.dispose()
    expected = {("sign_in", "refused"), ("sign_in", "ok"), ("view", "ok"), ("experiment_save", "invalid"),
                ("experiment_save", "ok"), ("experiment_stop", "ok"), ("key_create", "ok"), ("key_revoke", "ok"),
                ("key_create", "refused"), ("sign_out", "ok")}  # fmt: skip
    assert expected <= audit
