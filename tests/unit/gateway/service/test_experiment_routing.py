"""gateway.service.experiment_routing: a request's Plan from its arm's overrides, first exposures recorded."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.filters.base import FilterPolicy
from gateway.filters.chain import FilterChain
from gateway.protocol.completions import ParsedCompletion
from gateway.protocol.experiments import ExperimentDefinition
from gateway.service.arms import ExperimentRegistry, assign_arm
from gateway.service.contracts import Caller, Plan
from gateway.service.experiment_routing import ExperimentRouter, check_definition
from gateway.service.fim import FIM_TEMPLATES

# VllmClient only keeps the HTTP hop until a request is sent; planning never sends one.
_NO_HTTP: Any = object()


class Sink:
    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, Any]]] = []

    def submit(self, table: str, row: dict[str, Any]) -> None:
        self.rows.append((table, row))


def _filters(policy: dict[str, Any] | None) -> FilterChain:
    return FilterChain(replace(FilterPolicy(), **(policy or {})))


def _req(**kw: Any) -> ParsedCompletion:
    base: dict[str, Any] = {"shape": "openai", "model": None, "prefix": "def f(", "suffix": None, "max_tokens": 64}
    base |= {"temperature": 0.2, "top_p": None, "n": 1, "stop": [], "stream": False, "seed": None, "user": None}
    base |= {"language": "python"}
    return ParsedCompletion(**{**base, **kw})


def _experiment(arm_b: dict[str, Any], **kw: Any) -> ExperimentDefinition:
    arms = [{"name": "a", "weight": 1}, {"name": "b", "weight": 1, "overrides": arm_b}]
    start = datetime.now(UTC) - timedelta(hours=1)
    return ExperimentDefinition.model_validate({"name": "exp", "arms": arms, "start": start, **kw})


def _router(exp: ExperimentDefinition | None, sink: Sink) -> ExperimentRouter:
    registry = ExperimentRegistry([exp] if exp else [])
    return ExperimentRouter(registry, http=_NO_HTTP, timeout_s=5.0, telemetry=sink, build_filters=_filters)


def _default() -> Plan:
    from gateway.upstream.vllm_client import VllmClient

    upstream = VllmClient(_NO_HTTP, "http://default:8000", timeout_s=5.0)
    return Plan(upstream, "base-model", FIM_TEMPLATES["starcoder"], None, _req())


def _unit_in(exp: ExperimentDefinition, arm: str) -> str:
    return next(f"u{i}" for i in range(1000) if assign_arm(exp, f"u{i}").name == arm)


def test_without_a_running_experiment_the_default_plan_is_used() -> None:
    sink, default = Sink(), _default()
    assert _router(None, sink).plan(default.req, Caller(1, "alice", "u1"), default) is default
    assert sink.rows == []


def test_an_arms_overrides_win_over_the_request_and_the_default() -> None:
    overrides = {"upstream": "http://arm-b:8000", "model": "big", "fim_template": "codellama", "temperature": 0.9}
    exp = _experiment({**overrides, "filter_policy": {"secrets": "block"}})
    sink, default = Sink(), _default()
    router = _router(exp, sink)
    plan = router.plan(_req(temperature=0.1, top_p=0.5), Caller(1, "bob", _unit_in(exp, "b")), default)
    assert (plan.experiment, plan.arm, plan.model_name, plan.fim.name) == ("exp", "b", "big", "codellama")
    assert plan.req.temperature == 0.9 and plan.req.top_p == 0.5  # the request's own value where the arm has none
    assert plan.upstream is not default.upstream
    assert plan.filters is not None and plan.filters.policy.secrets == "block"
    again = router.plan(_req(), Caller(1, "bob", _unit_in(exp, "b")), default)
    assert again.upstream is plan.upstream and again.filters is plan.filters  # built once per arm
    control = router.plan(_req(), Caller(2, "carol", _unit_in(exp, "a")), default)
    assert (control.arm, control.upstream, control.model_name) == ("a", default.upstream, "base-model")


def test_each_units_first_exposure_is_recorded_once() -> None:
    exp = _experiment({})
    sink, default = Sink(), _default()
    router = _router(exp, sink)
    unit = _unit_in(exp, "b")
    for _ in range(3):
        router.plan(_req(), Caller(1, "bob", unit), default)
    assert [(t, r["experiment"], r["unit_id"], r["arm"]) for t, r in sink.rows] == [("assignments", "exp", unit, "b")]


def _bypassing_validation(**overrides: Any) -> ExperimentDefinition:
    """Arm b with overrides the wire model refuses: check_definition also sees definitions read back from storage."""
    exp = _experiment({})
    arm_b = exp.arms[1].model_copy(update={"overrides": exp.arms[1].overrides.model_copy(update=overrides)})
    return exp.model_copy(update={"arms": [exp.arms[0], arm_b]})


def test_definitions_this_gateway_cannot_run_are_named() -> None:
    assert check_definition(_experiment({}), _filters) is None
    assert check_definition(_experiment({"fim_template": "gpt"}), _filters) == "arm b: unknown fim_template 'gpt'"
    bad_upstream = check_definition(_bypassing_validation(upstream="file:///"), _filters)
    assert bad_upstream == "arm b: upstream must be an http(s) URL"
    bad_policy = check_definition(_bypassing_validation(filter_policy={"no_such_field": 1}), _filters)
    assert bad_policy is not None and bad_policy.startswith("arm b: invalid filter_policy")
