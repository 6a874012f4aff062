"""ExperimentRouter: turns a request into the Plan of its experiment arm (upstream, model, FIM
template, sampling, filter policy) and records each unit's first exposure."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gateway.filters.chain import FilterChain
from gateway.protocol.completions import ParsedCompletion
from gateway.protocol.experiments import ExperimentDefinition
from gateway.service.arms import ExperimentRegistry
from gateway.service.contracts import Caller, Plan, TelemetrySink
from gateway.service.fim import FIM_TEMPLATES
from gateway.upstream.http import UpstreamHttp
from gateway.upstream.vllm_client import VllmClient

FilterFactory = Callable[[dict[str, Any] | None], FilterChain]
_EXPOSURES_MAX = 1_000_000


def check_definition(exp: ExperimentDefinition, build_filters: FilterFactory | None) -> str | None:
    """Why `exp` cannot run here (unknown FIM template, bad filter policy), or None."""
    for arm in exp.arms:
        ov = arm.overrides
        if ov.fim_template is not None and ov.fim_template not in FIM_TEMPLATES:
            return f"arm {arm.name}: unknown fim_template {ov.fim_template!r}"
        if ov.upstream is not None and not ov.upstream.startswith(("http://", "https://")):
            return f"arm {arm.name}: upstream must be an http(s) URL"
        if ov.filter_policy is not None and build_filters is not None:
            try:
                build_filters(ov.filter_policy)
            except (TypeError, ValueError) as exc:
                return f"arm {arm.name}: invalid filter_policy: {exc}"
    return None


class ExperimentRouter:
    def __init__(
        self,
        registry: ExperimentRegistry,
        *,
        http: UpstreamHttp,
        timeout_s: float,
        telemetry: TelemetrySink,
        build_filters: FilterFactory | None,
    ) -> None:
        self.registry = registry
        self._http = http
        self._timeout_s = timeout_s
        self._telemetry = telemetry
        self._build_filters = build_filters
        self._clients: dict[str, VllmClient] = {}
        self._filters: dict[tuple[str, str], FilterChain] = {}
        self._exposed: set[tuple[str, str]] = set()

    def plan(self, req: ParsedCompletion, caller: Caller, default: Plan) -> Plan:
        now = datetime.now(UTC)
        assignment = self.registry.assign(now, user_unit=caller.unit_id, machine_unit=caller.machine_id)
        if assignment is None:
            return default
        exp, arm = assignment.experiment, assignment.arm
        ov = arm.overrides
        self._expose(exp.name, caller.unit_id, arm.name, now)
        # Priority: the arm's override -> the request's own value -> the gateway's default.
        req = dataclasses.replace(
            req,
            temperature=ov.temperature if ov.temperature is not None else req.temperature,
            top_p=ov.top_p if ov.top_p is not None else req.top_p,
            max_tokens=ov.max_tokens if ov.max_tokens is not None else req.max_tokens,
        )
        return Plan(
            upstream=self._client(ov.upstream) if ov.upstream else default.upstream,
            model_name=ov.model or default.model_name,
            fim=FIM_TEMPLATES[ov.fim_template] if ov.fim_template else default.fim,
            filters=self._arm_filters(exp.name, arm.name, ov.filter_policy)
            if ov.filter_policy is not None
            else default.filters,
            req=req,
            experiment=exp.name,
            arm=arm.name,
        )

    def _client(self, url: str) -> VllmClient:
        if url not in self._clients:
            self._clients[url] = VllmClient(self._http, url, timeout_s=self._timeout_s)
        return self._clients[url]

    def _arm_filters(self, experiment: str, arm: str, policy: dict[str, Any]) -> FilterChain | None:
        key = (experiment, arm)
        if key not in self._filters and self._build_filters is not None:
            self._filters[key] = self._build_filters(policy)
        return self._filters.get(key)

    def _expose(self, experiment: str, unit_id: str, arm: str, now: datetime) -> None:
        key = (experiment, unit_id)
        if key in self._exposed:
            return
        if len(self._exposed) >= _EXPOSURES_MAX:
            self._exposed.clear()  # the table's primary key keeps the first exposure anyway
        self._exposed.add(key)
        self._telemetry.submit(
            "assignments", {"experiment": experiment, "unit_id": unit_id, "arm": arm, "first_seen_at": now}
        )
