"""IDE clients on their own defaults (issue 14), through the app against fake upstreams.

The fakes here capture what the gateway forwards and script what the "model" answers (tokens with
log-probabilities, planted secrets): fault and payload injection a tiny real model cannot do on
demand. The same client bodies go to the real vLLM in tests/integration/gateway/test_ide_clients.py.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from factories import FakeUpstream, make_api_key, make_settings, sse_events
from gateway.main import create_app
from gateway.protocol.completions import CompletionLimits, ContextSnippet, parse_completion
from gateway.service.logprobs import LogprobTrack, unchanged_chars
from gateway.service.tabby_context import context_budget, render_context, select_snippets

AWS_KEY = "AKIA" + "IOSFODNN7" + "EXAMPLF"  # syntactically valid, not a credential

# Continue's autocomplete defaults for a model without a named template: the stable-code FIM template's
# 7 stops, then its multiline and common stops (core/autocomplete/templating/AutocompleteTemplate.ts,
# getStopTokens.ts), and DEFAULT_MAX_TOKENS 4096; its vllm provider posts them with `stream: true`.
CONTINUE_STOPS = [
    "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>", "<|endoftext|>", "</fim_middle>", "</code>",
    "\n\n", "\r\n\r\n", "/src/", "#- coding: utf-8", "```",
]  # fmt: skip


class TokenUpstream(FakeUpstream):
    """Fake vLLM (payload capture) that answers with per-token logprobs, like vLLM's `logprobs: k`."""

    def __init__(self, tokens: list[str], finish_reason: str = "length") -> None:
        super().__init__(text="".join(tokens), finish_reason=finish_reason, chunks=len(tokens))
        self.tokens = tokens

    def _lp(self, tokens: list[str], start: int) -> dict[str, Any]:
        offsets, at = [], start
        for t in tokens:
            offsets.append(at)
            at += len(t)
        return {
            "tokens": tokens,
            "token_logprobs": [-0.5 - i for i in range(len(tokens))],
            "top_logprobs": [{t: -0.5} for t in tokens],
            "text_offset": offsets,
        }

    def respond(self, path: str, payload: dict[str, Any] | None) -> web.Response | list[bytes]:
        if path != "/v1/completions" or payload is None:
            return super().respond(path, payload)
        self.payloads.append(payload)
        n = payload.get("n", 1)
        if payload.get("stream"):
            lines, at = [], 0
            for j, tok in enumerate(self.tokens):
                last = j == len(self.tokens) - 1
                for i in range(n):
                    choice = {"index": i, "text": tok, "finish_reason": self.finish_reason if last else None}
                    choice["logprobs"] = self._lp([tok], at)
                    lines.append({"id": "x", "choices": [choice]})
                at += len(tok)
            lines.append({"id": "x", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}})
            return sse_events(lines)
        choices = []
        for i in range(n):
            # choice i is less likely than choice i-1 (best_of must keep the first ones)
            lp = self._lp(self.tokens, 0)
            lp["token_logprobs"] = [v - i for v in lp["token_logprobs"]]
            choices.append({"index": i, "text": self.text, "finish_reason": self.finish_reason, "logprobs": lp})
        return web.json_response({"id": "u", "choices": choices, "usage": {"prompt_tokens": 3}})


def _client(tmp_path: Path, upstream: FakeUpstream, **settings: Any) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The app on `upstream`, started here if the caller has not (stopped again when it was)."""
    with contextlib.ExitStack() as stack:
        if not upstream.running:
            stack.enter_context(upstream)
        s = make_settings(tmp_path, upstream=upstream, rate_limit_burst=1000, rate_limit_per_s=1000.0, **settings)
        key = make_api_key(s)
        with TestClient(create_app(s)) as client:
            yield client, {"Authorization": f"Bearer {key}"}


@pytest.fixture()
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(text="    return a + b\n\ndef other():\n    pass\n") as upstream:
        yield upstream


@pytest.fixture()
def gw(tmp_path: Path, upstream: FakeUpstream) -> Iterator[tuple[TestClient, dict[str, str]]]:
    yield from _client(tmp_path, upstream, model_aliases={"bigcode/starcoder2-15b": "fake-model"})


def _sse(r: httpx.Response) -> list[dict[str, Any]]:
    lines = [ln for ln in r.text.split("\n\n") if ln]
    assert lines[-1] == "data: [DONE]"
    return [json.loads(ln[len("data: ") :]) for ln in lines[:-1]]


# --- Continue (issue 14, item 1)
def test_continue_default_body_is_served_with_max_tokens_clamped(gw, upstream) -> None:
    """Issue 14: Continue's 12 stops and max_tokens 4096 were a 400; now 200, clamped and said so."""
    client, auth = gw
    body = {"model": "fake-model", "prompt": "def add(a, b):\n", "max_tokens": 4096, "temperature": 0.01,
            "stop": CONTINUE_STOPS, "stream": True}  # fmt: skip
    r = client.post("/v1/completions", json=body, headers=auth)
    assert r.status_code == 200, r.text
    chunks = _sse(r)
    text = "".join(c["text"] for ch in chunks for c in ch["choices"])
    assert text == "    return a + b"  # cut at Continue's 8th stop "\n\n", which vLLM was never told
    assert chunks[-1]["x_codesieve"]["max_tokens_clamped"] == {"requested": 4096, "used": 512}
    sent = upstream.payloads[0]
    assert sent["max_tokens"] == 512 and len(sent["stop"]) == 4  # vLLM's limit; the rest applied here


def test_strict_setting_keeps_the_400(tmp_path: Path, upstream: FakeUpstream) -> None:
    for client, auth in _client(tmp_path, upstream, max_tokens_strict=True):
        r = client.post("/v1/completions", json={"prompt": "x", "max_tokens": 4096}, headers=auth)
        assert r.status_code == 400 and r.json()["error"]["code"] == "max_tokens_too_large"


def test_stop_bound() -> None:
    limits = CompletionLimits(64, 512, 4, 65536)
    assert not hasattr(parse_completion({"prompt": "x", "stop": ["s"] * 64}, limits), "status")
    err = parse_completion({"prompt": "x", "stop": ["s"] * 65}, limits)
    assert err.status == 400 and err.code == "invalid_value" and err.param == "stop"  # type: ignore[union-attr]


# --- models (item 6)
def test_models_lists_aliases_and_answers_with_a_trailing_slash(gw, upstream) -> None:
    client, auth = gw
    for path in ("/v1/models", "/v1/models/"):
        r = client.get(path, headers=auth, follow_redirects=False)
        assert r.status_code == 200, path
        ids = [m["id"] for m in r.json()["data"]]
        assert ids == ["fake-model", "bigcode/starcoder2-15b"]
    alias = client.get("/v1/models/bigcode/starcoder2-15b", headers=auth).json()
    assert alias["root"] == "fake-model"
    assert client.get("/v1/models/nope", headers=auth).status_code == 404
    r = client.post("/v1/completions", json={"model": "bigcode/starcoder2-15b", "prompt": "x"}, headers=auth)
    assert r.status_code == 200 and upstream.payloads[-1]["model"] == "fake-model"
    r = client.post("/v1/completions", json={"model": "gpt-4", "prompt": "x"}, headers=auth)
    assert r.status_code == 404


def test_models_carry_the_upstreams_fields(tmp_path: Path) -> None:
    class VllmCards(FakeUpstream):
        def respond(self, path: str, payload: dict[str, Any] | None) -> web.Response | list[bytes]:
            if path == "/v1/models":
                card = {"id": "fake-model", "object": "model", "root": "/m", "max_model_len": 2048}
                return web.json_response({"object": "list", "data": [card]})
            return super().respond(path, payload)

    for client, auth in _client(tmp_path, VllmCards(), accept_any_model=True):
        card = client.get("/v1/models", headers=auth).json()["data"][0]
        assert card["max_model_len"] == 2048 and card["id"] == "fake-model"
        r = client.post("/v1/completions", json={"model": "anything/at-all", "prompt": "x"}, headers=auth)
        assert r.status_code == 200


# --- Tabby (items 2-4)
def test_tabby_health_reports_a_version_tabby_agent_accepts(gw) -> None:
    client, auth = gw
    body = client.get("/v1/health", headers=auth).json()
    major, minor, _ = (int(x) for x in body["version"]["git_describe"].lstrip("v").split("."))
    assert (major, minor) >= (0, 9)  # tabby-agent skips /v1beta/server_setting below 0.9.0
    assert body["codesieve_version"]


def test_tabby_context_goes_into_the_prompt_and_crlf_comes_back(gw, upstream) -> None:
    client, auth = gw
    upstream.text = "    return helper(n)\n"
    body = {
        "language": "python",
        "mode": "next_edit_suggestion",
        "segments": {
            "prefix": "import os\r\ndef f(n):\r\n",
            "suffix": "\r\n",
            "filepath": "a.py",
            "git_url": "https://example.com/r.git",
            "clipboard": "CLIPBOARD_TEXT",
            "declarations": [{"filepath": "b.py", "body": "def helper(x):\r\n    return x\r\n"}],
            "relevant_snippets_from_changed_files": [{"filepath": "c.py", "body": "y = helper(2)", "score": 1}],
        },
    }
    r = client.post("/v1/completions", json=body, headers=auth)
    assert r.status_code == 200, r.text
    prompt = upstream.payloads[0]["prompt"]
    assert prompt.startswith("<fim_prefix># Path: b.py\n# def helper(x):\n#     return x\n#\n# Path: c.py\n")
    assert "# y = helper(2)\nimport os\ndef f(n):\n<fim_suffix>\n<fim_middle>" in prompt
    assert "\r" not in prompt and "CLIPBOARD_TEXT" not in prompt
    out = r.json()
    assert out["choices"][0]["text"] == "    return helper(n)\r\n"
    assert out["x_codesieve"]["tabby"] == {
        "context_snippets": 2, "context_chars": len(prompt.split("import os")[0]) - len("<fim_prefix>"),
        "crlf": True, "mode": "next_edit_suggestion", "served_as": "completion",
    }  # fmt: skip


def test_a_secret_in_a_snippet_is_guarded_like_one_in_the_prefix(tmp_path: Path) -> None:
    upstream = FakeUpstream(text="    pass\n")
    for client, auth in _client(tmp_path, upstream, redact_before_model=True):
        snippet = {"filepath": "cfg.py", "body": f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"'}
        in_snippet = {"language": "python", "segments": {"prefix": "def f():\n", "declarations": [snippet]}}
        in_prefix = {"language": "python", "segments": {"prefix": f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\ndef f():\n'}}
        for body, where in ((in_snippet, "context"), (in_prefix, "prefix")):
            r = client.post("/v1/completions", json=body, headers=auth)
            assert r.status_code == 200, r.text
            assert AWS_KEY not in upstream.payloads[-1]["prompt"]
            findings = r.json()["x_codesieve"]["prompt_filters"]
            assert [(f["reason"], f["where"], f["action"]) for f in findings] == [
                ("secret.aws_access_key", where, "redact_before_model")
            ]


def test_context_budget_keeps_prefix_and_suffix_whole_first() -> None:
    snippets = (
        ContextSnippet("declaration", "a.py", "x" * 500),
        ContextSnippet("declaration", "b.py", "y" * 500),  # over Tabby's 768 with the first: its list stops
        ContextSnippet("changed_file", "c.py", "z" * 100),
    )
    assert [s.filepath for s in select_snippets(snippets, 768)] == ["a.py", "c.py"]
    assert context_budget(768, prompt_chars=100, max_model_len=None, max_tokens=64) == 768
    assert context_budget(768, prompt_chars=800, max_model_len=512, max_tokens=64) == 96  # (512-64)*2 - 800
    assert context_budget(768, prompt_chars=5000, max_model_len=512, max_tokens=64) == 0
    assert render_context("unknown-lang", list(snippets)) == ""
    assert render_context("rust", [snippets[2]]) == "// Path: c.py\n// " + "z" * 100 + "\n"


def test_tabby_accepts_record_client_lengths_or_say_server(tmp_path: Path, upstream: FakeUpstream) -> None:
    for client, auth in _client(tmp_path, upstream):
        r = client.post("/v1/completions", json={"segments": {"prefix": "def f():\n"}}, headers=auth)
        cid = r.json()["id"]
        events = [
            ("", {"type": "select", "completion_id": cid, "view_id": "v1", "accepted_chars": 17}),
            ("", {"type": "select", "completion_id": cid, "view_id": "v2"}),
            ("?select_kind=line", {"type": "select", "completion_id": cid, "view_id": "v3"}),
        ]
        for query, event in events:
            assert client.post(f"/v1/events{query}", json=event, headers=auth).status_code == 202
        settings = client.app.state.settings  # type: ignore[attr-defined]
    with create_engine(settings.sync_db_url).connect() as conn:
        rows = conn.execute(
            text("SELECT accept_kind, accepted_chars, accepted_chars_source FROM events ORDER BY id")
        ).all()
    first_line = upstream.text.split("\n")[0] + "\n"
    assert [tuple(r) for r in rows] == [
        ("full", 17, "client"),
        ("full", len(upstream.text), "server"),
        ("partial", len(first_line), "server"),
    ]
    import pyarrow.parquet as pq

    from gateway.telemetry.export import export_parquet

    out = tmp_path / "export.parquet"
    export_parquet(create_engine(settings.sync_db_url), out)
    table = pq.read_table(out, columns=["record_type", "accepted_chars_source"]).to_pylist()
    assert [r["accepted_chars_source"] for r in table if r["record_type"] == "event"] == ["client", "server", "server"]


# --- logprobs, echo, best_of (item 5 and the OpenAI SDK's parameters)
@pytest.mark.parametrize("stream", [False, True])
def test_logprobs_cover_exactly_the_returned_text(tmp_path: Path, stream: bool) -> None:
    # The gateway cuts at the client's stop "\n\n" (beyond what vLLM was told, in a longer list).
    upstream = TokenUpstream(["    return", " a", " +", " b", "\n\n", "def", " x"])
    stops = ["\n\n", *[f"zz{i}" for i in range(8)]]
    for client, auth in _client(tmp_path, upstream, enable_filters=False):
        body = {"prompt": "def add(a, b):\n", "logprobs": 2, "stop": stops, "stream": stream}
        r = client.post("/v1/completions", json=body, headers=auth)
        assert r.status_code == 200, r.text
        if stream:
            choices = [c for ch in _sse(r) for c in ch["choices"]]
            text_out = "".join(c["text"] for c in choices)
            tokens = [t for c in choices if c["logprobs"] for t in c["logprobs"]["tokens"]]
        else:
            choice = r.json()["choices"][0]
            text_out, tokens = choice["text"], choice["logprobs"]["tokens"]
            assert choice["logprobs"]["text_offset"] == [0, 10, 12, 14]
            assert len(choice["logprobs"]["top_logprobs"]) == 4
    assert text_out == "    return a + b"
    assert "".join(tokens) == text_out
    assert upstream.payloads[0]["logprobs"] == 2


def test_logprobs_stop_at_a_redacted_secret(tmp_path: Path) -> None:
    upstream = TokenUpstream(["key", " = ", '"', AWS_KEY, '"\n'])
    for client, auth in _client(tmp_path, upstream):
        r = client.post("/v1/completions", json={"prompt": "aws_id = 1\n", "logprobs": 1}, headers=auth)
        choice = r.json()["choices"][0]
    assert AWS_KEY not in choice["text"]
    assert choice["logprobs"]["tokens"] == ["key", " = ", '"']  # up to the first token the filter changed
    assert choice["text"].startswith("".join(choice["logprobs"]["tokens"]))


def test_echo_best_of_and_n(tmp_path: Path) -> None:
    upstream = TokenUpstream(["    return", " 1\n"])
    for client, auth in _client(tmp_path, upstream):
        body = {"prompt": "def one():\n", "echo": True, "best_of": 3, "n": 2, "logprobs": 0}
        r = client.post("/v1/completions", json=body, headers=auth)
        assert r.status_code == 200, r.text
        choices = r.json()["choices"]
        bad = client.post("/v1/completions", json={**body, "stream": True}, headers=auth)
    assert upstream.payloads[0]["n"] == 3 and "best_of" not in upstream.payloads[0]
    assert "echo" not in upstream.payloads[0]  # the gateway echoes the client's prompt, not the FIM text
    assert [c["index"] for c in choices] == [0, 1]
    assert [c["text"] for c in choices] == ["def one():\n    return 1\n"] * 2
    assert choices[0]["logprobs"]["text_offset"][0] == len("def one():\n")
    assert choices[0]["logprobs"]["token_logprobs"][0] > choices[1]["logprobs"]["token_logprobs"][0]
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "best_of"


def test_logprob_track_golden() -> None:
    assert unchanged_chars("abcdef", "abcxef") == 3
    assert unchanged_chars("abc", "abc") == 3
    assert unchanged_chars("abc", "") == 0
    track = LogprobTrack()
    track.add({"tokens": ["ab", "cd"], "token_logprobs": [-1.0, -2.0], "top_logprobs": None, "text_offset": [0, 2]})
    assert track.take("abc", 3)["tokens"] == ["ab"]  # "cd" is not all in the text yet
    # vLLM counts the special token in its offsets (ef at 16); the text does not hold it
    track.add({"tokens": ["<fim_middle>", "ef"], "token_logprobs": [-3.0, -4.0], "text_offset": [4, 16]})
    assert track.take("abcdef", 6, shift=10) == {
        "tokens": ["cd", "<fim_middle>", "ef"], "token_logprobs": [-2.0, -3.0, -4.0],
        "top_logprobs": [None, None, None], "text_offset": [12, 14, 14],
    }  # fmt: skip
    assert track.sum_logprob() == -10.0
    split = LogprobTrack()  # "é" split across two byte tokens, each decoded as U+FFFD
    split.add({"tokens": ["caf", "\ufffd", "\ufffd", "!"], "token_logprobs": [-1.0] * 4})
    assert split.take("café!", 5)["text_offset"] == [0, 3, 4, 4]


@pytest.mark.parametrize("filters", [True, False])
def test_streamed_echo_comes_once_before_the_text(tmp_path: Path, filters: bool) -> None:
    upstream = TokenUpstream(["    return", " 1", "\n"])
    for client, auth in _client(tmp_path, upstream, enable_filters=filters):
        body = {"prompt": "def one():\n", "echo": True, "stream": True, "logprobs": 0}
        choices = [c for ch in _sse(client.post("/v1/completions", json=body, headers=auth)) for c in ch["choices"]]
    assert "".join(c["text"] for c in choices) == "def one():\n    return 1\n"
    offsets = [o for c in choices if c["logprobs"] for o in c["logprobs"]["text_offset"]]
    assert offsets == [11, 21, 23]  # positions in the echoed text
