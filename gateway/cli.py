"""Gateway commands: `codesieve serve`, `codesieve keys ...`, `codesieve telemetry ...`."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from codesieve.cli_io import cli_error

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
telemetry_app = typer.Typer(help="Telemetry database maintenance and export.", no_args_is_help=True)

DbOpt = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL (default: SQLite under the data dir)")]


def _fail(message: str, code: int = 2) -> None:
    raise cli_error(message, code)


def _settings(**overrides: Any) -> Any:
    from pydantic import ValidationError

    from gateway.config import GatewaySettings

    try:
        settings = GatewaySettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    if settings.db_url is not None:
        _check_db_url(settings.sync_db_url)
    return settings


def _check_db_url(url: str) -> None:
    """Refuse a database URL that cannot work before anything connects or creates a file.

    A malformed URL or an unknown driver is one error line (the URL itself is not echoed: it may
    hold a password). An explicit SQLite file must be in an existing folder: a typo must not create
    directories (the default, under the data dir, is created as needed).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        parsed.get_dialect()
        _ = parsed.port  # parsed lazily: "host:notaport" fails here
    except (ArgumentError, ValueError, ImportError) as exc:
        _fail(f"--db is not a usable database URL: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            _fail(f"--db: the SQLite file's folder does not exist: {folder} (create it first)")


def _db_error(exc: Exception) -> None:
    """One line for a database that cannot be reached or used: type and first line, no URL."""
    first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
    _fail(f"database error: {type(exc).__name__}: {first[:300]}", 1)


def _db_errors() -> tuple[type[Exception], ...]:
    from sqlalchemy.exc import SQLAlchemyError

    return (SQLAlchemyError, OSError)


# CLI flags of `serve` -> the CODESIEVE_* variables worker processes read their settings from.
_WORKER_ENV = {
    "host": "CODESIEVE_HOST",
    "port": "CODESIEVE_PORT",
    "upstream_url": "CODESIEVE_UPSTREAM_URL",
    "db_url": "CODESIEVE_DB_URL",
    "redis_url": "CODESIEVE_REDIS_URL",
    "data_dir": "CODESIEVE_DATA_DIR",
}


GATEWAY_APP = "gateway.main:create_app"


def make_serve(app_factory: str = GATEWAY_APP) -> Callable[..., None]:
    """The `serve` command for an app factory ("module:function" taking GatewaySettings).

    `codesieve serve` is made with codesieve/app.py's factory, which gives the console the A/B
    analysis's live report; the default, the gateway's own app, has none. A string, not a function,
    so that `--workers` processes import the same factory.
    """

    def serve(
        host: Annotated[str | None, typer.Option(help="listen address")] = None,
        port: Annotated[int | None, typer.Option(help="listen port")] = None,
        upstream: Annotated[str | None, typer.Option("--upstream", help="URL of a running vLLM OpenAI server")] = None,
        model: Annotated[Path | None, typer.Option("--model", help="model folder for the embedded vLLM")] = None,
        db: DbOpt = None,
        redis: Annotated[str | None, typer.Option("--redis", help="Redis URL for shared rate limits")] = None,
        data_dir: Annotated[Path | None, typer.Option("--data-dir", help="where SQLite, spool and logs live")] = None,
        workers: Annotated[
            int, typer.Option("--workers", min=1, max=64, help="gateway processes on one port (needs --upstream)")
        ] = 1,
        log_level: Annotated[str, typer.Option(help="debug|info|warning|error")] = "info",
    ) -> None:
        """Run the gateway (embedded vLLM on --model, or proxy --upstream)."""
        from codesieve.cli_io import OutputError, prepare_output_dir
        from gateway.config import default_data_dir

        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if workers > 1 and upstream is None:
            # The embedded vLLM must run once, not once per worker process.
            _fail(
                "--workers above 1 needs --upstream URL: the embedded vLLM (--model) runs in a single gateway process"
            )
        if upstream is None and model is None:
            model = (data_dir or default_data_dir()) / "models" / "tiny-code"
        if upstream is None and model is not None and not (model / "config.json").is_file():
            _fail(
                f"no model at {model}: build one with `codesieve train tiny-model --output {model}`, "
                "or give --upstream URL"
            )
        settings = _settings(
            host=host, port=port, upstream_url=upstream, model_dir=model, db_url=db, redis_url=redis, data_dir=data_dir
        )
        try:  # SQLite, the journal and the pseudonym key live there: refuse now, not in the lifespan
            prepare_output_dir(settings.data_dir)
        except OutputError as exc:
            _fail(f"--data-dir: {exc}")
        if settings.index_dir is not None and settings.enable_filters:
            from codesieve.core.index_store import IndexFormatError, load_index

            try:  # memory-maps only: a bad index is one clear line here, not a start-up traceback per worker
                load_index(settings.index_dir)
            except IndexFormatError as exc:
                _fail(f"CODESIEVE_INDEX_DIR: {exc}")
        try:
            if workers > 1:
                _serve_workers(settings, workers, log_level, app_factory)
            else:
                _serve_one(settings, log_level, app_factory)
        except Exception as exc:  # noqa: BLE001 - start-up failures (vLLM, DB) become one clear line
            _fail(f"gateway failed: {exc}", 1)

    return serve


serve = make_serve()  # the gateway's app alone; `codesieve serve` is codesieve.app.serve


def _uvicorn_options(settings: Any, log_level: str) -> dict[str, Any]:
    from gateway.http_protocol import JsonErrorHttpToolsProtocol

    return {
        # httptools, with our JSON envelope on the 400s its parser answers (gateway.http_protocol).
        "http": JsonErrorHttpToolsProtocol,
        "host": settings.host,
        "port": settings.port,
        "log_level": log_level.lower(),
        "access_log": False,
        "timeout_graceful_shutdown": 10,
        # h11 (when httptools is absent) buffers at most this much of an incomplete request head;
        # with httptools, gateway.middleware refuses headers over MAX_HEADER_BYTES with a JSON 431.
        "h11_max_incomplete_event_size": 64 * 1024,
    }


def _serve_one(settings: Any, log_level: str, app_factory: str) -> None:
    import uvicorn
    from uvicorn.importer import import_from_string

    create_app = import_from_string(app_factory)
    _share_the_gil_sooner()
    uvicorn.run(create_app(settings), **_uvicorn_options(settings, log_level))


def _share_the_gil_sooner() -> None:
    """A 1 ms GIL switch interval (Python's default: 5 ms).

    Large scans and persistence run in worker threads (issue 13), but they hold the GIL; each time
    the event loop wakes it waits up to one switch interval for it, and serving one request takes
    several wake-ups. 1 ms keeps /health fast while a worst-case request runs.
    """
    sys.setswitchinterval(0.001)


def _serve_workers(settings: Any, workers: int, log_level: str, app_factory: str) -> None:
    """N processes accept on one socket; each has its own telemetry journal (spool/<n>/, flock).

    What must happen once happens here, before the workers start: migrations and the pseudonym key.
    Workers read their settings from CODESIEVE_* variables (flags exported over the environment).
    """
    import os

    import uvicorn

    from gateway.auth import load_or_create_pseudonym_key
    from gateway.db import DatabaseLink

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    load_or_create_pseudonym_key(settings.pseudonym_key, settings.data_dir)
    migrated = not settings.auto_migrate
    if settings.auto_migrate:
        link = DatabaseLink(settings.sync_db_url, migrate=True, lock_path=settings.data_dir / "migrate.lock")
        migrated = link.try_attach()
        if not migrated:  # the workers start anyway, journal, and migrate (one at a time) when it returns
            logging.getLogger(__name__).warning("telemetry database unreachable at start-up (%s)", link.last_error)
    for field, var in _WORKER_ENV.items():
        value = getattr(settings, field)
        if value is not None:
            os.environ[var] = str(value)
    os.environ["CODESIEVE_AUTO_MIGRATE"] = "false" if migrated else "true"
    # Spawned workers do not inherit this process's logging set-up: give them the same format.
    log_config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "root": {"handlers": ["stderr"], "level": log_level.upper()},
    }
    uvicorn.run(
        app_factory,
        factory=True,
        workers=workers,
        log_config=log_config,
        **_uvicorn_options(settings, log_level),
    )


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Option("--user", help="who the key belongs to")],
    admin: Annotated[bool, typer.Option("--admin", help="may manage experiments")] = False,
    db: DbOpt = None,
) -> None:
    """Create an API key; it is printed once, alone on the last line, and stored only hashed."""
    from sqlalchemy.exc import SQLAlchemyError

    from gateway.db import build_sync_engine, run_migrations
    from gateway.telemetry.repository import create_api_key

    if not user.strip():
        _fail("--user must not be empty")
    settings = _settings(db_url=db)
    try:
        run_migrations(settings.sync_db_url)
        engine = build_sync_engine(settings.sync_db_url)
        key = create_api_key(engine, user=user, is_admin=admin)
        engine.dispose()
    except (SQLAlchemyError, OSError) as exc:
        _db_error(exc)
    typer.echo(f"created {'admin ' if admin else ''}key for {user} (shown once; store it now):", err=True)
    sys.stdout.write(key + "\n")


@keys_app.command("list")
def keys_list(db: DbOpt = None) -> None:
    """List keys (prefix, user, admin, created, revoked); never the keys themselves."""
    from gateway.db import build_sync_engine, run_migrations
    from gateway.telemetry.repository import list_api_keys

    settings = _settings(db_url=db)
    try:
        run_migrations(settings.sync_db_url)
        engine = build_sync_engine(settings.sync_db_url)
        keys = list_api_keys(engine)
        engine.dispose()
    except _db_errors() as exc:
        _db_error(exc)
    for k in keys:
        typer.echo(
            f"{k.key_id}\t{k.key_prefix}…\t{k.user}\t{'admin' if k.is_admin else '-'}\t"
            f"{k.created_at:%Y-%m-%d}\t{'revoked' if k.revoked_at else 'active'}"
        )


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="id from `keys list`")], db: DbOpt = None) -> None:
    """Revoke a key (takes effect within 30 s on every replica)."""
    from gateway.db import build_sync_engine, run_migrations
    from gateway.telemetry.repository import revoke_api_key

    settings = _settings(db_url=db)
    try:
        run_migrations(settings.sync_db_url)
        engine = build_sync_engine(settings.sync_db_url)
        revoked = revoke_api_key(engine, key_id)
        engine.dispose()
    except _db_errors() as exc:
        _db_error(exc)
    if not revoked:
        _fail(f"no key with id {key_id}", 1)
    typer.echo(f"revoked key {key_id}")


@telemetry_app.command("migrate")
def telemetry_migrate(db: DbOpt = None) -> None:
    """Run the Alembic migrations to head (the gateway also does this at start-up)."""
    from gateway.db import run_migrations

    settings = _settings(db_url=db)
    try:
        run_migrations(settings.sync_db_url)
    except _db_errors() as exc:
        _db_error(exc)
    typer.echo("database at head")


@telemetry_app.command("export")
def telemetry_export(
    output: Annotated[Path, typer.Option("--output", help="Parquet file to write")],
    experiment: Annotated[str | None, typer.Option("--experiment", help="only this experiment's rows")] = None,
    db: DbOpt = None,
) -> None:
    """Write completions and events as one Parquet file (format: gateway/telemetry/export.py)."""
    from codesieve.cli_io import OutputError, probe_output_file
    from gateway.db import build_sync_engine
    from gateway.telemetry.export import export_parquet

    if output.suffix != ".parquet":
        _fail("--output must end in .parquet")
    settings = _settings(db_url=db)
    try:
        probe_output_file(output)
    except OutputError as exc:
        _fail(str(exc))
    try:
        counts = export_parquet(build_sync_engine(settings.sync_db_url), output, experiment=experiment)
    except _db_errors() as exc:
        _db_error(exc)
    if experiment is not None and counts["completions"] == 0 and counts["events"] == 0:
        typer.echo(f"warning: no rows for experiment {experiment!r}", err=True)
    typer.echo(f"wrote {counts['completions']} completions and {counts['events']} events to {output}")


@telemetry_app.command("retention")
def telemetry_retention(
    days: Annotated[int, typer.Option("--days", min=1, help="keep raw rows this many days")],
    db: DbOpt = None,
) -> None:
    """Fold raw rows older than --days into per-unit daily aggregates and delete them (once)."""
    import asyncio

    from gateway.db import build_async_engine
    from gateway.telemetry.retention import apply_retention

    settings = _settings(db_url=db)

    async def run() -> dict[str, int]:
        engine = build_async_engine(settings.async_db_url)
        try:
            return await apply_retention(engine, days)
        finally:
            await engine.dispose()

    try:
        result = asyncio.run(run())
    except _db_errors() as exc:
        _db_error(exc)
    typer.echo(str(result))
