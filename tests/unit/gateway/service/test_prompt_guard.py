"""The prompt guard finds prompt secrets with the detectors of the request's filter policy (an arm may
opt in to the entropy detectors, or narrow the set), and redacts them before the model when asked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from factories import FakeUpstream, make_api_key, make_settings
from gateway.filters.base import FilterPolicy
from gateway.filters.chain import FilterChain
from gateway.main import create_app
from gateway.service.prompt_guard import guard_prompt

# Found only by the opt-in entropy detector (tests/unit/gateway/filters/test_chain.py: entropy is opt-in).
HIGH_ENTROPY = "k9Qz3Xw7Lp2Rt8Vb5Nm1Hc6Jd4Fs0Gy+AeUiOo/"
PROMPT = f'SIGNING = "{HIGH_ENTROPY}"\nAWS = "AKIAIOSFODNN7EXAMPLE"\ndef sign(data):\n'
OPT_IN = {"secret_detectors": ["base64_high_entropy_string"]}


def _reasons(findings: list[dict[str, object]]) -> list[object]:
    return [f["reason"] for f in findings]


def test_default_detectors_without_a_policy() -> None:
    guarded = guard_prompt(PROMPT, None, redact_before_model=False)
    assert "secret.base64_high_entropy_string" not in _reasons(guarded.findings)
    assert "secret.aws_access_key" in _reasons(guarded.findings)


def test_the_policy_detectors_decide_what_the_guard_finds() -> None:
    opted_in = FilterChain(FilterPolicy(secret_detectors=frozenset(OPT_IN["secret_detectors"])))
    guarded = guard_prompt(PROMPT, None, redact_before_model=True, filters=opted_in)
    assert _reasons(guarded.findings) == ["secret.base64_high_entropy_string"]  # only the policy's detector
    assert HIGH_ENTROPY not in guarded.prefix and "AKIAIOSFODNN7EXAMPLE" in guarded.prefix
    assert HIGH_ENTROPY not in guarded.stored_prefix


@pytest.fixture()
def gw(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], FakeUpstream]]:
    with FakeUpstream() as upstream:
        settings = make_settings(
            tmp_path, upstream=upstream, redact_before_model=True, rate_limit_burst=1000, rate_limit_per_s=1000.0
        )
        key = make_api_key(settings, user="root", is_admin=True)
        with TestClient(create_app(settings)) as client:
            yield client, {"Authorization": f"Bearer {key}"}, upstream


def test_an_arms_secret_detectors_apply_to_the_prompt(gw: tuple[TestClient, dict[str, str], FakeUpstream]) -> None:
    client, auth, upstream = gw
    arms = [{"name": n, "overrides": {"filter_policy": OPT_IN}} for n in ("a", "b")]
    r = client.post("/v1/experiments", json={"name": "entropy", "arms": arms}, headers=auth)
    assert r.status_code in (200, 201), r.text
    r = client.post("/v1/completions", json={"prompt": PROMPT, "max_tokens": 8}, headers=auth)
    assert r.status_code == 200, r.text
    block = r.json()["x_codesieve"]
    assert block["experiment"]["name"] == "entropy"
    assert _reasons(block["prompt_filters"]) == ["secret.base64_high_entropy_string"]
    assert HIGH_ENTROPY not in upstream.payloads[-1]["prompt"]  # hidden from the model, as the policy asks
