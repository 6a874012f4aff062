"""gateway.service.completions: CompletionService called directly, without the HTTP layer.

The service's two boundaries are swapped: the model server (the VllmClient port: `complete` and
`stream`, here a recorder that answers a scripted body) and the telemetry sink (a list). The route
tests (tests/unit/gateway/api/routes/test_completions.py) cover the same service through the app.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from gateway.filters.chain import FilterChain
from gateway.metrics import GatewayMetrics
from gateway.protocol.base import ErrorResponse
from gateway.protocol.completions import ParsedCompletion
from gateway.service.completions import CompletionService, ServiceConfig
from gateway.service.contracts import Caller
from gateway.service.fim import FIM_TEMPLATES
from gateway.service.recent import RecentCompletions
from gateway.upstream.vllm_client import UpstreamCompletion

SECRET = "Zq8Rk2Lw7Nv4Bx9Tm3Hc6Jp1Fd5Gs0Ye4Ua7Io2"
ALICE = Caller(key_id=1, user="alice", unit_id="u-alice", client="vscode")


class RecordingUpstream:
    """The model server port: records each payload, answers `texts` (one per choice) or an error."""

    def __init__(self, texts: list[str] | Callable[[str], list[str]], error: ErrorResponse | None = None) -> None:
        self.texts = texts
        self.error = error
        self.payloads: list[dict[str, Any]] = []

    async def complete(self, payload: dict[str, Any]) -> UpstreamCompletion | ErrorResponse:
        self.payloads.append(payload)
        if self.error is not None:
            return self.error
        texts = self.texts(payload["prompt"]) if callable(self.texts) else self.texts
        choices = [{"index": i, "text": t, "finish_reason": "length"} for i, t in enumerate(texts)]
        return UpstreamCompletion({"choices": choices, "usage": {"prompt_tokens": 7, "completion_tokens": 5}}, 12.5)

    async def stream(self, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any] | ErrorResponse]:
        self.payloads.append(payload)
        if self.error is not None:
            yield self.error
            return
        assert isinstance(self.texts, list)
        for piece in self.texts:  # one choice, streamed in these pieces
            yield {"choices": [{"index": 0, "text": piece, "finish_reason": None}]}
        yield {"choices": [{"index": 0, "text": "", "finish_reason": "length"}]}
        yield {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 5}}


class Sink:
    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, Any]]] = []

    def submit(self, table: str, row: dict[str, Any]) -> None:
        self.rows.append((table, row))


def _req(**kw: Any) -> ParsedCompletion:
    base: dict[str, Any] = {"shape": "openai", "model": None, "prefix": "def f(a, b):\n", "max_tokens": 32}
    base |= {"suffix": "\n\nprint(f(1, 2))\n", "temperature": 0.2, "top_p": None, "n": 1, "stop": ["\n#"]}
    base |= {"stream": False, "seed": None, "user": None, "language": "python"}
    return ParsedCompletion(**{**base, **kw})


def _service(upstream: RecordingUpstream, **cfg: Any) -> tuple[CompletionService, Sink, RecentCompletions]:
    sink, recent = Sink(), RecentCompletions()
    config = ServiceConfig(model_name="tiny-code", fim=FIM_TEMPLATES["starcoder"], **cfg)
    service = CompletionService(config, upstream, sink, GatewayMetrics(), FilterChain(), recent=recent)  # type: ignore[arg-type]
    return service, sink, recent


def test_the_prompt_is_rendered_filtered_answered_and_recorded() -> None:
    upstream = RecordingUpstream([f'    AWS_SECRET_ACCESS_KEY = "{SECRET}"\n    return a + b\n# trailing'])
    service, sink, recent = _service(upstream)
    body = asyncio.run(service.complete(_req(), ALICE))
    assert isinstance(body, dict)
    sent = upstream.payloads[0]
    assert sent["prompt"] == "<fim_prefix>def f(a, b):\n<fim_suffix>\n\nprint(f(1, 2))\n<fim_middle>"
    assert sent["stop"][:3] == ["\n#", "\n\n\n", "\ndef"]  # the client's, then the language's
    assert "suffix" not in sent and sent["temperature"] == 0.2 and sent["model"] == "tiny-code"
    text = body["choices"][0]["text"]
    assert SECRET not in text and "<SECRET>" in text and not text.endswith("# trailing")  # redacted, cut at the stop
    assert body["choices"][0]["finish_reason"] == "stop"
    (table, row), = sink.rows  # fmt: skip
    assert table == "completions" and row["filter_action"] == "redacted" and row["unit_id"] == "u-alice"
    assert (row["client"], row["prompt_tokens"], row["upstream_latency_ms"]) == ("vscode", 7, 12.5)
    assert SECRET not in json.dumps(row, default=str)
    ref = recent.get(body["id"])
    assert ref is not None and ref.choice_texts == (text,)  # what events about it are checked against


def test_an_unserved_model_is_refused_before_the_upstream_is_called() -> None:
    upstream = RecordingUpstream(["x"])
    service, sink, _ = _service(upstream, model_aliases={"alias": "tiny-code"})
    refused = asyncio.run(service.complete(_req(model="gpt-4"), ALICE))
    assert isinstance(refused, ErrorResponse) and (refused.status, refused.code) == (404, "model_not_found")
    assert upstream.payloads == [] and sink.rows == []
    assert isinstance(asyncio.run(service.complete(_req(model="alias"), ALICE)), dict)


def test_an_upstream_failure_is_returned_and_recorded_as_an_error() -> None:
    failure = ErrorResponse(504, "upstream_timeout", "the model server did not answer in time")
    service, sink, recent = _service(RecordingUpstream([], error=failure))
    assert asyncio.run(service.complete(_req(), ALICE)) is failure
    (table, row), = sink.rows  # fmt: skip
    assert table == "completions" and row["is_error"] is True and row["error_code"] == "upstream_timeout"


def test_secrets_in_the_prompt_never_reach_the_model_and_come_back_in_the_answer() -> None:
    def echo_the_placeholder(prompt: str) -> list[str]:
        shown = re.search(r'AWS_SECRET_ACCESS_KEY = "([^"]+)"', prompt)
        assert shown is not None
        return [f'    return "{shown.group(1)}"\n']  # a model copying the value it was shown

    upstream = RecordingUpstream(echo_the_placeholder)
    prefix = f'AWS_SECRET_ACCESS_KEY = "{SECRET}"\ndef key():\n'
    service, sink, _ = _service(upstream, redact_before_model=True)
    body = asyncio.run(service.complete(_req(prefix=prefix, suffix=None, stop=[]), ALICE))
    assert isinstance(body, dict)
    assert SECRET not in upstream.payloads[0]["prompt"]
    # the output filters ran on the model's own text (a placeholder), then the user's value came back
    assert body["choices"][0]["text"] == f'    return "{SECRET}"\n'
    assert SECRET not in json.dumps(sink.rows, default=str)


def _stream(service: CompletionService, req: ParsedCompletion) -> list[str | ErrorResponse]:
    async def run() -> list[str | ErrorResponse]:
        return [item async for item in service.stream(req, ALICE)]

    return asyncio.run(run())


def test_a_stream_stops_across_chunks_and_ends_with_the_record() -> None:
    upstream = RecordingUpstream(["    return a", " + b\n", "#", " next"])
    service, sink, _ = _service(upstream)
    items = _stream(service, _req(stream=True))
    assert all(isinstance(i, str) and i.startswith("data: ") for i in items) and items[-1] == "data: [DONE]\n\n"
    chunks = [json.loads(i[len("data: ") :]) for i in items[:-1] if isinstance(i, str)]
    text = "".join(c["choices"][0]["text"] for c in chunks if c.get("choices"))
    assert text == "    return a + b"  # "\n#" is a stop even split over two chunks
    assert upstream.payloads[0]["stream_options"] == {"include_usage": True}
    assert chunks[-1]["x_codesieve"]["completion_id"] == chunks[-1]["id"]
    assert [t for t, _ in sink.rows] == ["completions"] and sink.rows[0][1]["completion_chars"] == len(text)


def test_a_stream_that_fails_first_yields_the_error_itself() -> None:
    failure = ErrorResponse(502, "upstream_unreachable", "the model server cannot be reached")
    service, sink, _ = _service(RecordingUpstream([], error=failure))
    assert _stream(service, _req(stream=True)) == [failure]
    assert sink.rows[0][1]["error_code"] == "upstream_unreachable"
