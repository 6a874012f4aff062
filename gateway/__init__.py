"""The request path of codesieve.

IDE -> api.routes (parse, auth, rate limit) -> service.completions (FIM render, experiment arm)
    -> upstream.vllm_client (vLLM's OpenAI server) -> filters (secrets, licence, provenance)
    -> response with `x_codesieve` -> telemetry.writer (batched, spooled, never blocks the request)
"""

__version__ = "0.1.0"
