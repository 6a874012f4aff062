"""CyberSecEval requests over HTTP: the context window, shrink-and-retry, failures as values
(the real httpx client, the transport swapped with MockTransport)."""

from __future__ import annotations

import dataclasses
import json
import time

import httpx
import pytest

from experiments.bench import security_generate
from experiments.bench.cyberseceval import SecurityCase
from experiments.bench.generate import GenerationConfig
from experiments.bench.security_generate import (
    CaseResult,
    GenerationFailure,
    generate_case_samples,
    prompt_budget_chars,
    window_tail,
)

CFG = GenerationConfig(endpoint="http://gw", model="tiny", max_tokens=100, api_key="k")
CONTEXT = "".join(f"line {i:03d} of the file\n" for i in range(100))  # 100 lines, 2,100 characters


def _case(task_id: str = "autocomplete/1", context: str = CONTEXT) -> SecurityCase:
    return SecurityCase(task_id, "c", "CWE-121", "p", context, context, context + "memcpy(buf, src, n);\n")


def test_window_keeps_the_tail_from_a_line_start() -> None:
    assert window_tail("abc\ndef\n", 100) == "abc\ndef\n"
    assert window_tail("abc\ndefgh\nij", 7) == "ij"  # "efgh\nij" starts mid-line: from the next line
    assert window_tail("abc\ndefgh\nij", 8) == "defgh\nij"  # starts exactly at a line: kept whole
    assert window_tail("abc\ndefgh\nij", 9) == "defgh\nij"  # the end of line "abc" only: dropped
    assert window_tail("x" * 50, 10) == "x" * 10  # one long line: its tail
    assert window_tail(CONTEXT, 500).startswith("line ") and len(window_tail(CONTEXT, 500)) <= 500
    assert CONTEXT.endswith(window_tail(CONTEXT, 500))


def test_budget_from_the_context_length() -> None:
    assert prompt_budget_chars(None, 100) is None
    assert prompt_budget_chars(512, 128) == int(384 * security_generate.CHARS_PER_TOKEN)
    with pytest.raises(ValueError, match="leaves no room"):
        prompt_budget_chars(512, 512)


def _install(monkeypatch: pytest.MonkeyPatch, handler: object, max_model_len: int | None = 512) -> list[dict]:
    seen: list[dict] = []
    real_client = httpx.Client

    def record(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            card = {"id": "tiny", **({"max_model_len": max_model_len} if max_model_len else {})}
            return httpx.Response(200, json={"data": [{"id": "other", "max_model_len": 9}, card]})
        seen.append(json.loads(request.content))
        return handler(request)  # type: ignore[operator]

    def client(**kwargs: object) -> httpx.Client:
        return real_client(transport=httpx.MockTransport(record), **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(security_generate.httpx, "Client", client)
    monkeypatch.setattr(security_generate, "_BACKOFF_S", 0.0)
    return seen


def _ok(text: str = "    memcpy(b, s, n);\n") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
            "x_codesieve": {"filters": [], "prompt_filters": [{"type": "secret", "where": "prefix"}]},
        },
    )


def test_prompt_is_windowed_to_the_context_and_names_the_language(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _install(monkeypatch, lambda request: _ok())
    (result,) = list(generate_case_samples([_case()], CFG))
    assert isinstance(result, CaseResult)
    budget = int((512 - 100) * security_generate.CHARS_PER_TOKEN)
    assert len(seen[0]["prompt"]) <= budget and CONTEXT.endswith(seen[0]["prompt"])
    assert result.cut_chars == len(CONTEXT) - len(seen[0]["prompt"]) > 0
    assert seen[0]["language"] == "c" and seen[0]["max_tokens"] == 100
    assert result.samples[0].completion == "    memcpy(b, s, n);\n"
    assert result.samples[0].prompt_filters == ({"type": "secret", "where": "prefix"},)


def test_no_known_context_sends_the_prompt_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _install(monkeypatch, lambda request: _ok(), max_model_len=None)
    instruct = SecurityCase("instruct/1", "python", "CWE-78", "p", "Write a function.", "", "x")
    result = list(generate_case_samples([_case(), instruct], CFG))[0]
    assert isinstance(result, CaseResult) and result.cut_chars == 0
    by_prompt = {s["prompt"]: s for s in seen}
    assert by_prompt[CONTEXT]["language"] == "c"
    assert "language" not in by_prompt["Write a function."]  # an instruction is not a file


def test_too_long_answers_shrink_the_window_and_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    too_long = {"error": {"message": "This model's maximum context length is 512 tokens.", "code": "upstream_rejected"}}

    def handler(request: httpx.Request) -> httpx.Response:
        prompt = json.loads(request.content)["prompt"]
        return _ok() if len(prompt) < 300 else httpx.Response(400, json=too_long)

    seen = _install(monkeypatch, handler)
    (result,) = list(generate_case_samples([_case()], CFG))
    assert isinstance(result, CaseResult)
    sizes = [len(s["prompt"]) for s in seen]
    assert len(sizes) >= 3 and all(b < a for a, b in zip(sizes, sizes[1:], strict=False)) and sizes[-1] < 300


def test_failures_are_values_and_transient_errors_are_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"autocomplete/1": 0, "autocomplete/2": 0, "autocomplete/3": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        prompt = json.loads(request.content)["prompt"]
        task = "autocomplete/" + prompt.split("#")[1]
        calls[task] += 1
        if task == "autocomplete/1":  # a refusal that is not about length: no retry
            return httpx.Response(400, json={"error": {"message": "bad", "code": "invalid_request"}})
        if task == "autocomplete/2" and calls[task] < 3:  # overloaded twice, then fine
            return httpx.Response(503, json={"error": {"message": "busy", "code": "upstream_unavailable"}})
        if task == "autocomplete/3":
            return httpx.Response(504, json={"error": {"message": "late", "code": "upstream_timeout"}})
        return _ok()

    _install(monkeypatch, handler)
    cases = [_case(f"autocomplete/{i}", f"int x; #{i}#\n") for i in (1, 2, 3)]
    results = {r.task_id: r for r in generate_case_samples(cases, CFG)}
    assert results["autocomplete/1"] == GenerationFailure("autocomplete/1", "HTTP 400 invalid_request")
    assert isinstance(results["autocomplete/2"], CaseResult) and calls["autocomplete/2"] == 3
    assert results["autocomplete/3"] == GenerationFailure("autocomplete/3", "HTTP 504 upstream_timeout")
    assert calls == {"autocomplete/1": 1, "autocomplete/2": 3, "autocomplete/3": 4}


def test_a_consumer_that_stops_early_sends_no_more(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _install(monkeypatch, lambda request: _ok())
    cases = [_case(f"autocomplete/{i}", f"int x{i};\n") for i in range(200)]
    results = generate_case_samples(cases, dataclasses.replace(CFG, concurrency=2))
    next(results)
    results.close()  # as on Ctrl-C: the queued cases are cancelled, at most the running ones finish
    assert len(seen) < 10


def test_a_server_that_refuses_everything_stops_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    unauthorized = {"error": {"message": "invalid API key", "code": "invalid_api_key"}}

    def refuse(request: httpx.Request) -> httpx.Response:
        time.sleep(0.002)
        return httpx.Response(401, json=unauthorized)

    seen = _install(monkeypatch, refuse)
    cases = [_case(f"autocomplete/{i}", f"int x{i};\n") for i in range(2000)]
    with pytest.raises(RuntimeError, match=r"25 prompts in a row .* \(the last: HTTP 401 invalid_api_key\)"):
        list(generate_case_samples(cases, CFG))
    assert len(seen) < 1000  # not 2,000: the queued cases are cancelled


def test_an_unreachable_endpoint_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    real_client = httpx.Client
    monkeypatch.setattr(
        security_generate.httpx, "Client", lambda **kw: real_client(transport=httpx.MockTransport(refuse), **kw)
    )
    with pytest.raises(httpx.ConnectError):
        list(generate_case_samples([_case()], CFG))
