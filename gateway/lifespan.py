"""Start-up and shut-down: database, telemetry writer, upstream client (and embedded vLLM), filters.

Everything long-lived is created here and kept on `app.state`; nothing is created at import time.

The database is not needed to start: while it is unreachable the gateway serves completions, the
telemetry journal keeps every record, and a background task migrates and attaches the database as
soon as it answers (then the journal is replayed and experiments are loaded from it). Until then
experiments come from the experiments file alone, and API keys can only be checked once the
database answers (`auth_unavailable`, 503 with Retry-After, for a key this process has not seen).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI

from gateway.auth import ApiKeyAuthenticator, KeySnapshot, load_or_create_pseudonym_key
from gateway.config import GatewaySettings
from gateway.db import DatabaseLink, build_async_engine
from gateway.ratelimit import InProcessRateLimiter, RateLimiter, RedisRateLimiter
from gateway.service.arms import ExperimentRegistry
from gateway.service.completions import CompletionService, ServiceConfig
from gateway.service.events import EventService
from gateway.service.experiment_admin import ExperimentAdmin, read_experiments_file
from gateway.service.experiment_routing import ExperimentRouter, FilterFactory, check_definition
from gateway.service.fim import resolve_fim_template
from gateway.service.recent import RecentCompletions
from gateway.supervisor import VllmSupervisor
from gateway.telemetry.repository import (
    fetch_active_api_keys,
    fetch_api_key,
    fetch_completion_refs,
    fetch_experiments,
    insert_rows,
    upsert_experiment,
)
from gateway.telemetry.retention import run_retention_loop
from gateway.telemetry.writer import TelemetryWriter
from gateway.upstream.http import AiohttpBackend, UpstreamHttp
from gateway.upstream.vllm_client import VllmClient

log = logging.getLogger(__name__)
# How often the on-disk API key snapshot follows the database (a revocation reaches it within this).
KEY_SNAPSHOT_REFRESH_S = 60.0


async def _resolve_model_name(settings: GatewaySettings, cards: list[dict[str, Any]]) -> str:
    if settings.served_model_name:
        return settings.served_model_name
    if settings.upstream_url is None and settings.model_dir is not None:
        return settings.model_dir.name
    if cards:
        return str(cards[0]["id"])
    # A dead upstream is reported (by /ready and by 503s), not hidden; requests still name a model.
    log.error("upstream %s is unreachable at start-up; /ready will say so", settings.upstream_url)
    return "unknown"


def _warm(index: Any) -> None:
    """Page the reference index in off the request path (first queries would otherwise fault)."""
    from codesieve.core.index_store import warm_index

    started = time.perf_counter()
    size = warm_index(index)
    log.info("reference index warmed: %.0f MB in %.1f s", size / 1e6, time.perf_counter() - started)


def _filter_factory(settings: GatewaySettings) -> FilterFactory | None:
    """A builder of filter chains for a policy (dict of FilterPolicy fields over the defaults)."""
    if not settings.enable_filters:
        return None
    from dataclasses import replace

    from gateway.filters.base import FilterPolicy
    from gateway.filters.chain import FilterChain

    index = None
    if settings.index_dir is not None:
        from codesieve.core.index_store import load_index

        index = load_index(settings.index_dir)
        log.info("reference index loaded from %s", settings.index_dir)
        threading.Thread(target=_warm, args=(index,), name="index-warm", daemon=True).start()
    base = FilterPolicy(secrets=settings.secrets_action, min_match_lexemes=settings.min_match_lexemes)

    def build(policy: dict[str, Any] | None) -> FilterChain:
        return FilterChain(replace(base, **(policy or {})), index)

    return build


def _build_upstream_http(settings: GatewaySettings) -> UpstreamHttp:
    """One pooled client for all upstream calls."""
    headers = {"Authorization": f"Bearer {settings.upstream_api_key}"} if settings.upstream_api_key else None
    return AiohttpBackend(connect_timeout_s=settings.upstream_connect_timeout_s, headers=headers)


def _build_rate_limiter(settings: GatewaySettings) -> RateLimiter:
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url, settings.rate_limit_per_s, settings.rate_limit_burst)
    return InProcessRateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)


async def _refresh_experiments(admin: ExperimentAdmin, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await admin.refresh()
        except Exception as exc:  # noqa: BLE001 - keep serving with the last known experiments
            log.warning("experiment refresh failed: %s", type(exc).__name__)


async def _load_experiments(
    admin: ExperimentAdmin, settings: GatewaySettings, link: DatabaseLink, build_filters: FilterFactory | None
) -> None:
    """From the file and the database; with no database yet, the file's definitions alone (assignment
    is a pure hash, so arms are the same as they will be once the database is attached)."""
    if link.attached:
        if settings.experiments_file is not None:
            await admin.load_file(settings.experiments_file)
        await admin.refresh()
    elif settings.experiments_file is not None:
        defs = read_experiments_file(settings.experiments_file)
        for exp in defs:
            if problem := check_definition(exp, build_filters):
                raise RuntimeError(f"{settings.experiments_file}: experiment {exp.name}: {problem}")
        admin.registry.replace(defs)


async def _attach_when_reachable(state: Any, settings: GatewaySettings) -> None:
    link: DatabaseLink = state.db_link
    await link.wait_attached()
    log.info("telemetry database reachable and migrated; replaying the journal")
    state.writer.attach()
    try:
        await _load_experiments(state.experiment_admin, settings, link, state.build_filters)
    except Exception as exc:  # noqa: BLE001 - keep serving; the periodic refresh tries again
        log.error("experiments could not be loaded after the database returned: %s", type(exc).__name__)


def _freeze_startup_heap() -> None:
    """Exclude everything built at start-up from the cyclic garbage collector's full collections.

    The loaded app is ~145k objects (filters, index, migrations' imports); a full collection over
    them took 40-130 ms on the 2-core host, stalling every request in flight: the gateway's p99
    spikes. They live as long as the process, so scanning them again can never free anything.
    """
    gc.collect()  # garbage from start-up goes now, not into the permanent generation
    gc.freeze()


async def _refresh_key_snapshot(state: Any, link: DatabaseLink, interval_s: float = KEY_SNAPSHOT_REFRESH_S) -> None:
    """Keep the on-disk key snapshot equal to the database's active keys while it is reachable."""
    while True:
        if link.attached:
            try:
                keys = await fetch_active_api_keys(state.engine)
                await asyncio.to_thread(state.key_snapshot.replace, keys)
            except Exception as exc:  # noqa: BLE001 - database or disk trouble: keep the last snapshot
                log.warning("api key snapshot not refreshed (%s)", type(exc).__name__)
        await asyncio.sleep(interval_s if link.attached else 1.0)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: GatewaySettings = app.state.settings
    state = app.state
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    state.pseudonym_key = load_or_create_pseudonym_key(settings.pseudonym_key, settings.data_dir)
    state.db_link = link = DatabaseLink(
        settings.sync_db_url, migrate=settings.auto_migrate, lock_path=settings.data_dir / "migrate.lock"
    )
    if not await asyncio.to_thread(link.try_attach):
        log.warning("telemetry database unreachable at start-up (%s): serving and journaling", link.last_error)
    state.engine = build_async_engine(settings.async_db_url)
    dead_letters = state.metrics.telemetry_dead_letters
    state.writer = TelemetryWriter(
        partial(insert_rows, state.engine),
        settings.spool_dir,
        batch_size=settings.telemetry_batch_size,
        flush_interval_s=settings.telemetry_flush_interval_s,
        attached=link.attached,
        on_dead_letter=lambda table, kind: dead_letters.labels(table, kind).inc(),
    )
    await state.writer.start()
    state.key_snapshot = KeySnapshot(settings.data_dir / "api-keys.snapshot.json")
    state.key_snapshot.load()
    state.authenticator = ApiKeyAuthenticator(partial(fetch_api_key, state.engine), state.key_snapshot)
    state.rate_limiter = _build_rate_limiter(settings)

    state.supervisor = None
    upstream_url = settings.upstream_url
    if upstream_url is None:
        if settings.model_dir is None:
            raise RuntimeError("no upstream: give --upstream URL or --model DIR")
        state.supervisor = VllmSupervisor(
            settings.model_dir,
            port=settings.vllm_port,
            served_model_name=settings.served_model_name or settings.model_dir.name,
            max_model_len=settings.vllm_max_model_len,
            log_path=settings.data_dir / "logs" / "vllm.log",
            start_timeout_s=settings.vllm_start_timeout_s,
        )
        await state.supervisor.start()
        upstream_url = state.supervisor.url
    state.http = _build_upstream_http(settings)
    state.vllm = VllmClient(state.http, upstream_url, timeout_s=settings.upstream_timeout_s)
    # The upstream's own model cards (vLLM: max_model_len, root, ...), served by GET /v1/models.
    cards = await state.vllm.model_cards()
    state.upstream_models = cards if isinstance(cards, list) else []
    model_name = await _resolve_model_name(settings, state.upstream_models)
    card = next((c for c in state.upstream_models if c.get("id") == model_name), None)
    max_model_len = card.get("max_model_len") if card is not None else None
    fim = resolve_fim_template(explicit=settings.fim_template, model_name=model_name, model_dir=settings.model_dir)
    state.completion_service_model = model_name
    build_filters = _filter_factory(settings)
    state.filters = build_filters(None) if build_filters is not None else None
    state.build_filters = build_filters
    state.recent = RecentCompletions()
    registry = ExperimentRegistry()
    state.experiment_admin = ExperimentAdmin(
        registry,
        fetch=partial(fetch_experiments, state.engine),
        upsert=partial(upsert_experiment, state.engine),
        build_filters=build_filters,
    )
    await _load_experiments(state.experiment_admin, settings, link, build_filters)
    router = ExperimentRouter(
        registry,
        http=state.http,
        timeout_s=settings.upstream_timeout_s,
        telemetry=state.writer,
        build_filters=build_filters,
    )
    state.completion_service = CompletionService(
        ServiceConfig(
            model_name,
            fim,
            settings.store_raw_text,
            settings.redact_before_model,
            model_aliases=settings.model_aliases,
            accept_any_model=settings.accept_any_model,
            max_model_len=max_model_len if isinstance(max_model_len, int) else None,
            tabby_context_chars=settings.tabby_context_chars,
        ),
        state.vllm,
        state.writer,
        state.metrics,
        filters=state.filters,
        recent=state.recent,
        arms=router,
    )
    state.event_service = EventService(
        state.recent,
        partial(fetch_completion_refs, state.engine),
        state.writer,
        # Another process's completion reaches the database within one flush interval plus an INSERT.
        lookup_grace_s=2 * settings.telemetry_flush_interval_s + 0.1,
    )
    background = [
        asyncio.create_task(_refresh_experiments(state.experiment_admin, settings.experiments_refresh_s)),
        asyncio.create_task(_refresh_key_snapshot(state, link)),
    ]
    if not link.attached:
        background.append(asyncio.create_task(_attach_when_reachable(state, settings)))
    if settings.retention_days is not None:
        background.append(asyncio.create_task(run_retention_loop(state.engine, settings.retention_days)))
    log.info("gateway ready: model %s via %s (FIM template %s)", model_name, upstream_url, fim.name)
    _freeze_startup_heap()
    try:
        yield
    finally:
        for task in background:
            task.cancel()
        # Wait for them to unwind before the engine is disposed: a task cancelled inside a query
        # closes its connection on the way out, and a disposed engine under it can leave that close
        # waiting for ever (a test's teardown hung on the key-snapshot refresh's first query).
        await asyncio.gather(*background, return_exceptions=True)
        await state.http.aclose()
        await state.writer.close()
        if isinstance(state.rate_limiter, RedisRateLimiter):
            await state.rate_limiter.close()
        await state.engine.dispose()
        if state.supervisor is not None:
            await state.supervisor.stop()
