"""Sampling over HTTP: the real httpx client and parsing, with the transport swapped (MockTransport)."""

from __future__ import annotations

import json

import httpx
import pytest

from codesieve.core.benchmarks import Problem
from experiments.bench import generate
from experiments.bench.generate import GenerationConfig, generate_samples, truncate_at_stop

PROBLEM = Problem(
    task_id="T/0",
    prompt="def f():\n",
    test="",
    entry_point="f",
    stop_tokens=("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#"),
)


def _install(monkeypatch: pytest.MonkeyPatch, handler: object) -> list[dict]:
    seen: list[dict] = []
    real_client = httpx.Client

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return handler(request)  # type: ignore[operator]

    def client(**kwargs: object) -> httpx.Client:
        return real_client(transport=httpx.MockTransport(record), **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(generate.httpx, "Client", client)
    return seen


def test_samples_blocked_choices_and_request_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/completions"
        assert request.headers["authorization"] == "Bearer k"
        body = {
            "choices": [
                {"index": 0, "text": "    return 1\n\ndef g():\n    pass", "finish_reason": "stop"},
                {"index": 1, "text": "", "finish_reason": "content_filter"},
            ],
            "x_codesieve": {"filters": [{"action": "block", "reason": "secret", "choice_index": 1}]},
        }
        return httpx.Response(200, json=body)

    seen = _install(monkeypatch, handler)
    cfg = GenerationConfig(endpoint="http://gw", model="m", n=2, temperature=0.8, seed=7, api_key="k")
    samples = list(generate_samples([PROBLEM], cfg))
    assert [s.sample_idx for s in samples] == [0, 1]
    assert samples[0].completion == "    return 1\n"  # cut at "\ndef "
    assert not samples[0].blocked
    assert samples[1].blocked and samples[1].filters[0]["reason"] == "secret"
    assert seen[0]["n"] == 2 and seen[0]["model"] == "m" and seen[0]["seed"] == 7
    assert len(seen[0]["stop"]) == 4  # the OpenAI limit


def test_resume_requests_only_missing_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        n = json.loads(request.content)["n"]
        return httpx.Response(
            200, json={"choices": [{"index": i, "text": "x", "finish_reason": "stop"} for i in range(n)]}
        )

    seen = _install(monkeypatch, handler)
    cfg = GenerationConfig(endpoint="http://vllm", model="m", n=3)
    samples = list(generate_samples([PROBLEM], cfg, done={("T/0", 0), ("T/0", 2)}))
    assert [s.sample_idx for s in samples] == [1]
    assert seen[0]["n"] == 1


def test_server_errors_surface(monkeypatch: pytest.MonkeyPatch) -> None:
    _install(monkeypatch, lambda request: httpx.Response(503, json={"error": "down"}))
    with pytest.raises(httpx.HTTPStatusError):
        list(generate_samples([PROBLEM], GenerationConfig(endpoint="http://x", model="m")))


def test_truncate_at_earliest_stop() -> None:
    assert truncate_at_stop("a\n#b\ndef c", ["\ndef ", "\n#"]) == "a"
    assert truncate_at_stop("abc", ["\ndef "]) == "abc"
