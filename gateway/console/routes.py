"""The console's pages under /console: parse the form or query, call a query or service, render.

Sign-in exchanges an admin API key for a session cookie (the key itself is never stored or shown
again); every state-changing form carries the session's CSRF token; every action is audited.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.responses import RedirectResponse, Response

from gateway.auth import pseudonymize
from gateway.console import accounts, queries
from gateway.console.charts import overview_charts
from gateway.console.overview import PERSISTENCE_SHOWN_S, parse_filters, summarize
from gateway.console.reports import ReportCache, markdown_to_html, no_live_report
from gateway.console.rollup import run_rollup_loop
from gateway.protocol.base import ErrorResponse
from gateway.protocol.experiments import ExperimentDefinition
from gateway.service.experiment_admin import ExperimentFileError, parse_experiments_text
from gateway.telemetry.repository import fetch_api_key


@asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    """Runs inside the gateway's lifespan: keeps the overview's daily rollups fresh on PostgreSQL."""
    state = app.state
    build = getattr(state, "console_report", None) or no_live_report
    state.console_reports = ReportCache(build, state.settings.sync_db_url, state.settings.console_report_max_age_s)
    task = None
    if state.engine.dialect.name == "postgresql":
        task = asyncio.create_task(run_rollup_loop(state.engine, state.settings.console_rollup_interval_s))
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)  # unwound before the engine is disposed


router = APIRouter(prefix="/console", include_in_schema=False, lifespan=_lifespan)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

SESSION_COOKIE = "codesieve_console"
_EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")  # ExperimentDefinition.name's pattern
_REPORT_WAIT_S = 0.3  # a live report not ready by then: the page says "computing" and reloads
LOGIN_COOKIE = "codesieve_console_login"  # double-submit token for the sign-in form (no session yet)
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # No script at all; inline styles are matplotlib's SVG attributes.
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
}


def _render(request: Request, name: str, ctx: dict[str, Any], status: int = 200, session: Any = None) -> Response:
    ctx = {"session": session, "csrf": session.csrf_token if session else None, **ctx}
    return templates.TemplateResponse(request, name, ctx, status_code=status, headers=_HEADERS)


def _message(request: Request, status: int, title: str, message: str, session: Any = None) -> Response:
    return _render(request, "message.html", {"title": title, "message": message}, status, session)


async def _audit(request: Request, session: Any, action: str, outcome: str = "ok", **kw: Any) -> None:
    await accounts.write_audit(
        request.app.state.engine,
        action=action,
        outcome=outcome,
        key_id=session.key_id if session else kw.pop("key_id", None),
        user=session.user if session else kw.pop("user", None),
        **kw,
    )


async def _signed_in(request: Request) -> accounts.ConsoleSession | None:
    token = request.cookies.get(SESSION_COOKIE)
    return await accounts.fetch_session(request.app.state.engine, token) if token else None


async def _page(request: Request) -> accounts.ConsoleSession | Response:
    """The session of a page view (audited), or a redirect to the sign-in page."""
    session = await _signed_in(request)
    if session is None:
        return RedirectResponse("/console/login", 303, headers=_HEADERS)
    await _audit(request, session, "view", target=request.url.path)
    return session


async def _post(request: Request, action: str) -> tuple[accounts.ConsoleSession, Any] | Response:
    """The session and form of a state-changing post whose CSRF token matches, else 403 (audited)."""
    session = await _signed_in(request)
    if session is None:
        return RedirectResponse("/console/login", 303, headers=_HEADERS)
    form = await request.form()
    if not hmac.compare_digest(str(form.get("csrf", "")), session.csrf_token):
        await _audit(request, session, action, "refused", detail="CSRF token missing or wrong")
        return _message(request, 403, "Refused", "The form's CSRF token is missing or wrong; reload the page.", session)
    return session, form


# --- sign-in --------------------------------------------------------------------------------------


@router.get("/login")
async def login_form(request: Request) -> Response:
    """The sign-in form."""
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = _render(request, "login.html", {"login_csrf": nonce})
    response.set_cookie(
        LOGIN_COOKIE, nonce, max_age=3600, path="/console", httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    """Exchange an admin API key for a session cookie."""
    form = await request.form()
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not hmac.compare_digest(str(form.get("csrf", "")), nonce):
        await _audit(request, None, "sign_in", "refused", detail="CSRF token missing or wrong")
        return _message(request, 403, "Refused", "The sign-in form expired; reload it and try again.")
    state = request.app.state
    info = await fetch_api_key(state.engine, str(form.get("api_key", "")).strip())
    if info is None:
        await _audit(request, None, "sign_in", "refused", detail="unknown or revoked key")
        return _message(request, 401, "Not signed in", "The API key is unknown or revoked.")
    if not info.is_admin:
        await _audit(request, None, "sign_in", "refused", key_id=info.key_id, user=info.user, detail="not admin")
        return _message(request, 403, "Forbidden", "The console is for admin keys only.")
    ttl = state.settings.console_session_ttl_s
    token, session = await accounts.create_session(state.engine, info.key_id, ttl)
    await _audit(request, None, "sign_in", key_id=info.key_id, user=info.user)
    response = RedirectResponse("/console/", 303, headers=_HEADERS)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=ttl, path="/console", httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    response.delete_cookie(LOGIN_COOKIE, path="/console")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session."""
    checked = await _post(request, "sign_out")
    if isinstance(checked, Response):
        return checked
    await accounts.delete_session(request.app.state.engine, request.cookies[SESSION_COOKIE])
    await _audit(request, checked[0], "sign_out")
    response = RedirectResponse("/console/login", 303, headers=_HEADERS)
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


# --- pages ----------------------------------------------------------------------------------------


@router.get("/")
async def overview(request: Request) -> Response:
    """Usage, acceptance, persistence, latency, errors and filter actions, with filters."""
    session = await _page(request)
    if isinstance(session, Response):
        return session
    state = request.app.state
    params = dict(request.query_params)
    filters = parse_filters(
        params, today=datetime.now(UTC).date(), pseudonymize=lambda u: pseudonymize(state.pseudonym_key, u)
    )
    if isinstance(filters, str):
        return _message(request, 400, "Bad filter", filters, session)
    summary = summarize(await queries.fetch_overview(state.engine, filters))
    charts = await asyncio.to_thread(overview_charts, summary)
    ctx = {"f": filters.form_values(), "s": summary, "checkpoints": PERSISTENCE_SHOWN_S}
    return _render(request, "overview.html", {**ctx, "charts": {k: Markup(v) for k, v in charts.items()}}, 200, session)


async def _experiments_page(
    request: Request, session: Any, *, status: int = 200, error: str | None = None, note: str | None = None,
    text: str = "", fmt: str = "toml",
) -> Response:  # fmt: skip
    described = await request.app.state.experiment_admin.describe()
    ctx = {"exps": described["data"], "active": described["active"], "error": error, "note": note}
    return _render(request, "experiments.html", {**ctx, "text": text, "fmt": fmt}, status, session)


@router.get("/experiments")
async def experiments(request: Request) -> Response:
    """Every experiment, the editor, and links to each live report."""
    session = await _page(request)
    return session if isinstance(session, Response) else await _experiments_page(request, session)


@router.post("/experiments")
async def save_experiments(request: Request) -> Response:
    """Create or replace experiments from TOML/YAML (the experiments file's format)."""
    checked = await _post(request, "experiment_save")
    if isinstance(checked, Response):
        return checked
    session, form = checked
    text, fmt = str(form.get("definition", "")), "yaml" if form.get("format") == "yaml" else "toml"
    try:
        defs = parse_experiments_text(text, fmt)
    except ExperimentFileError as exc:
        await _audit(request, session, "experiment_save", "invalid", detail=str(exc).splitlines()[0])
        return await _experiments_page(request, session, status=400, error=str(exc), text=text, fmt=fmt)
    saved = []
    for exp in defs:
        result = await request.app.state.experiment_admin.save(exp, source="console")
        if isinstance(result, ErrorResponse):
            await _audit(request, session, "experiment_save", "invalid", target=exp.name, detail=result.message)
            return await _experiments_page(request, session, status=result.status, error=result.message, text=text)
        await _audit(request, session, "experiment_save", target=exp.name)
        saved.append(exp.name)
    note = f"saved: {', '.join(saved)}" if saved else "nothing to save: the text has no experiments"
    return await _experiments_page(request, session, note=note)


@router.post("/experiments/{name}/stop")
async def stop_experiment(request: Request, name: str) -> Response:
    """Stop an experiment now (its window ends; the definition and telemetry stay)."""
    checked = await _post(request, "experiment_stop")
    if isinstance(checked, Response):
        return checked
    session, _form = checked
    admin = request.app.state.experiment_admin
    current = next((e for e in (await admin.describe())["data"] if e["name"] == name), None)
    if current is None:
        return _message(request, 404, "Not found", f"no experiment named {name!r}", session)
    now = datetime.now(UTC)
    if current["stop"] is not None and datetime.fromisoformat(current["stop"].replace("Z", "+00:00")) <= now:
        return await _experiments_page(request, session, status=409, error=f"{name} has already stopped")
    try:
        stopped = ExperimentDefinition.model_validate({**current, "stop": now})
    except ValueError:
        await _audit(request, session, "experiment_stop", "invalid", target=name, detail="not started yet")
        return await _experiments_page(request, session, status=409, error=f"{name} has not started; nothing to stop")
    result = await admin.save(stopped, source="console")
    outcome = "invalid" if isinstance(result, ErrorResponse) else "ok"
    await _audit(request, session, "experiment_stop", outcome, target=name)
    if isinstance(result, ErrorResponse):
        return await _experiments_page(request, session, status=result.status, error=result.message)
    return await _experiments_page(request, session, note=f"stopped: {name}")


@router.get("/experiments/{name}")
async def experiment_report(request: Request, name: str) -> Response:
    """One experiment's live report, by the same analysis code as `codesieve ab report`."""
    session = await _page(request)
    if isinstance(session, Response):
        return session
    if not _EXPERIMENT_NAME.match(name):
        return _message(request, 400, "Bad name", "experiment names are letters, digits and _.- (at most 100)", session)
    report, age_s = await request.app.state.console_reports.get(name, wait_s=_REPORT_WAIT_S)
    if report is not None and "markdown" in report:
        report = {**report, "html": Markup(markdown_to_html(report["markdown"]))}
    return _render(request, "report.html", {"name": name, "r": report, "age_s": age_s}, 200, session)


@router.get("/filters")
async def filter_actions(request: Request) -> Response:
    """Recent filter actions: reason, rule, licence, matched repository and path."""
    session = await _page(request)
    if isinstance(session, Response):
        return session
    raw = request.app.state.settings.store_raw_text
    rows = await queries.fetch_filter_actions(request.app.state.engine, include_text=raw)
    return _render(request, "filters.html", {"rows": rows, "raw": raw}, 200, session)


@router.get("/keys")
async def keys(request: Request) -> Response:
    """API keys: list, create, revoke."""
    session = await _page(request)
    if isinstance(session, Response):
        return session
    rows = await accounts.list_keys(request.app.state.engine)
    return _render(request, "keys.html", {"keys": rows, "new_key": None}, 200, session)


@router.post("/keys")
async def create_key(request: Request) -> Response:
    """Create a key; the page that answers shows it once."""
    checked = await _post(request, "key_create")
    if isinstance(checked, Response):
        return checked
    session, form = checked
    user, is_admin = str(form.get("user", "")).strip(), form.get("is_admin") == "on"
    if not user or len(user) > 200:
        await _audit(request, session, "key_create", "invalid", detail="bad user name")
        return _message(request, 400, "Bad user", "the user name must be 1 to 200 characters", session)
    key_id, key = await accounts.create_key(request.app.state.engine, user=user, is_admin=is_admin)
    await _audit(request, session, "key_create", target=f"key {key_id}", detail=f"user {user}, admin {is_admin}")
    rows = await accounts.list_keys(request.app.state.engine)
    return _render(request, "keys.html", {"keys": rows, "new_key": {"id": key_id, "key": key}}, 201, session)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: int) -> Response:
    """Revoke a key (every replica stops accepting it within 30 s)."""
    checked = await _post(request, "key_revoke")
    if isinstance(checked, Response):
        return checked
    session = checked[0]
    revoked = await accounts.revoke_key(request.app.state.engine, key_id)
    await _audit(request, session, "key_revoke", "ok" if revoked else "invalid", target=f"key {key_id}")
    if not revoked:
        return _message(request, 404, "Not found", f"no active key with id {key_id}", session)
    if key_id == session.key_id:  # revoking one's own key ends this session too
        return RedirectResponse("/console/login", 303, headers=_HEADERS)
    return RedirectResponse("/console/keys", 303, headers=_HEADERS)


@router.get("/health")
async def health(request: Request) -> Response:
    """vLLM, database, spool backlog, dead letters, versions, and the latest console actions."""
    session = await _page(request)
    if isinstance(session, Response):
        return session
    from gateway.console.health import collect_health

    info = await collect_health(request.app.state)
    audit = await accounts.fetch_audit(request.app.state.engine)
    return _render(request, "health.html", {"h": info, "audit": audit}, 200, session)
