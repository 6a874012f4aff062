"""IDE clients' own default requests against a real gateway in front of the real vLLM (issue 14).

Each body is what the client's current source builds on its defaults:
- Continue autocomplete (vllm/openai providers): core/llm/llms/OpenAI.ts `_legacystreamComplete` posts
  {model, prompt (the FIM template rendered by Continue), max_tokens: 4096 (DEFAULT_MAX_TOKENS), stop,
  stream: true}; the 12 stops are the stable-code template's 7 plus getStopTokens' multiline and
  common stops (core/autocomplete/templating/).
- llm-ls' openai backend (crates/llm-ls/src/backend.rs `build_body`) with llm.nvim's defaults:
  {temperature: 0.2, top_p: 0.95, prompt (FIM rendered by llm-ls), model: "bigcode/starcoder2-15b",
  stream: false}.
- the `openai` SDK's completion parameters: suffix, n, best_of, echo, logprobs, stop lists, stream_options.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import httpx
import openai
import pytest

from codesieve.testing.services import GatewayProcess, VllmServer, keyed_gateway

pytestmark = [pytest.mark.integration, pytest.mark.vllm]

CONTINUE_STOPS = [
    "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>", "<|endoftext|>", "</fim_middle>", "</code>",
    "\n\n", "\r\n\r\n", "/src/", "#- coding: utf-8", "```",
]  # fmt: skip
PREFIX = "def fibonacci(n):\n    "
SUFFIX = "\n\nprint(fibonacci(10))\n"


@pytest.fixture(scope="module")
def gateway(vllm_server: VllmServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, str]]:
    with keyed_gateway(tmp_path_factory.mktemp("gw-ide"), vllm_server.url) as served:
        yield served


@pytest.fixture()
def http(gateway: tuple[GatewayProcess, str]) -> Iterator[httpx.Client]:
    gw, key = gateway
    with httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        yield client


@pytest.fixture()
def sdk(gateway: tuple[GatewayProcess, str]) -> openai.OpenAI:
    gw, key = gateway
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0, timeout=60)


def _sse(r: httpx.Response) -> list[dict]:
    lines = [ln for ln in r.text.split("\n\n") if ln]
    assert lines[-1] == "data: [DONE]", r.text[-300:]
    return [json.loads(ln[len("data: ") :]) for ln in lines[:-1]]


def test_continue_autocomplete_default_body(http: httpx.Client) -> None:
    body = {
        "model": "tiny-code",
        "prompt": f"<fim_prefix>{PREFIX}<fim_suffix>{SUFFIX}<fim_middle>",
        "max_tokens": 4096,
        "stop": CONTINUE_STOPS,
        "stream": True,
    }
    r = http.post("/v1/completions", json=body)
    assert r.status_code == 200, r.text
    chunks = _sse(r)
    text = "".join(c["text"] for ch in chunks for c in ch["choices"])
    assert not any(stop in text for stop in CONTINUE_STOPS)  # all 12 applied, though vLLM takes 4
    final = chunks[-1]["x_codesieve"]
    assert final["max_tokens_clamped"] == {"requested": 4096, "used": 512}


def test_continue_reads_max_model_len_from_models(http: httpx.Client) -> None:
    for path in ("/v1/models", "/v1/models/"):
        r = http.get(path, follow_redirects=False)
        assert r.status_code == 200, path
        card = r.json()["data"][0]
        assert card["id"] == "tiny-code" and card["max_model_len"] == 512  # the vLLM fixture's --max-model-len


def test_llm_ls_openai_backend_default_body(http: httpx.Client) -> None:
    body = {
        "temperature": 0.2,
        "top_p": 0.95,
        "prompt": f"<fim_prefix>{PREFIX}<fim_suffix>{SUFFIX}<fim_middle>",
        "model": "bigcode/starcoder2-15b",
        "stream": False,
    }
    r = http.post("/v1/completions", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert isinstance(out["choices"][0]["text"], str)  # what llm-ls reads
    assert out["model"] == "tiny-code"  # the answer names the model that served the alias
    assert out["usage"]["completion_tokens"] <= 64  # the gateway's default max_tokens


def test_openai_sdk_suffix_n_and_a_stop_list(sdk: openai.OpenAI) -> None:
    stops = ["\n\n", "\nprint", "\ndef", "\nclass", "#", "```"]
    resp = sdk.completions.create(
        model="tiny-code", prompt=PREFIX, suffix=SUFFIX, n=2, stop=stops, max_tokens=24, temperature=0.8, seed=3
    )
    assert sorted(c.index for c in resp.choices) == [0, 1]
    assert all(not any(s in c.text for s in stops) for c in resp.choices)
    assert (resp.model_extra or {})["x_codesieve"]["fim_template"] == "starcoder"


def test_openai_sdk_best_of_and_logprobs(sdk: openai.OpenAI) -> None:
    resp = sdk.completions.create(
        model="tiny-code", prompt=PREFIX, best_of=3, n=2, logprobs=2, max_tokens=12, temperature=1.0, seed=5
    )
    assert [c.index for c in resp.choices] == [0, 1]
    for c in resp.choices:
        assert c.logprobs is not None and c.logprobs.tokens
        placed = zip(c.logprobs.tokens, c.logprobs.text_offset or [], strict=True)
        # each token is where its offset says, except special tokens the text leaves out (<fim_middle>)
        assert all(c.text.startswith(tok, off) or tok.startswith("<") for tok, off in placed)
        assert all(len(top) >= 1 for top in c.logprobs.top_logprobs or [])
    totals = [sum(c.logprobs.token_logprobs or []) for c in resp.choices if c.logprobs]
    assert all(t <= 0 for t in totals)


def test_openai_sdk_echo(sdk: openai.OpenAI) -> None:
    resp = sdk.completions.create(model="tiny-code", prompt=PREFIX, echo=True, logprobs=0, max_tokens=8, temperature=0)
    choice = resp.choices[0]
    assert choice.text.startswith(PREFIX) and len(choice.text) > len(PREFIX) - 1
    assert choice.logprobs is not None and choice.logprobs.text_offset[0] == len(PREFIX)


def test_openai_sdk_stream_options_and_streamed_logprobs(sdk: openai.OpenAI) -> None:
    chunks = list(
        sdk.completions.create(
            model="tiny-code",
            prompt="import os\n\ndef main(",
            stream=True,
            stream_options={"include_usage": True},
            logprobs=1,
            stop=["\n\n"],
            max_tokens=24,
            temperature=0.7,
            seed=11,
        )
    )
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    tokens = [t for c in chunks if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.tokens or []]
    # log-probabilities cover exactly the text that was streamed (special tokens aside)
    assert "".join(t for t in tokens if not (t.startswith("<") and t.endswith(">"))) == text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize("field", ["stream", "echo"])
def test_strict_booleans(http: httpx.Client, field: str) -> None:
    r = http.post("/v1/completions", json={"prompt": "x", field: "yes"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_type"
    assert r.json()["error"]["param"] == field


def test_tabby_context_reaches_the_model_and_crlf_comes_back(http: httpx.Client) -> None:
    segments = {"prefix": "def area(r):\r\n    ", "suffix": "\r\n", "filepath": "geo.py"}
    context = {
        "declarations": [{"filepath": "consts.py", "body": "PI = 3.14159\n"}],
        "relevant_snippets_from_recently_opened_files": [
            {"filepath": "sq.py", "body": "def square(x):\n    return x * x"}
        ],
    }
    bare = http.post("/v1/completions", json={"language": "python", "segments": segments, "seed": 1}).json()
    rich = http.post("/v1/completions", json={"language": "python", "segments": {**segments, **context}}).json()
    assert rich["x_codesieve"]["tabby"]["context_snippets"] == 2
    # the model saw the rendered context: more prompt tokens for the same prefix and suffix
    assert rich["usage"]["prompt_tokens"] > bare["usage"]["prompt_tokens"] + 10
    for out in (bare, rich):
        text = out["choices"][0]["text"]
        assert text.count("\n") == text.count("\r\n")  # every line end restored to CRLF


def test_urllib_oversize_body_gets_the_413(gateway: tuple[GatewayProcess, str]) -> None:
    """Issue 14: Python's urllib writes the whole body before reading; it saw a reset, not the 413."""
    gw, key = gateway
    body = json.dumps({"prompt": "x" * (20 * 1024 * 1024)}).encode()
    req = urllib.request.Request(
        f"{gw.url}/v1/completions",
        data=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=60)
    assert err.value.code == 413
    assert json.loads(err.value.read())["error"]["code"] == "body_too_large"
