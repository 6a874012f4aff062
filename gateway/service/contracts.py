"""What the API layer and the services share: who calls (Caller), how one request is served (Plan),
and where telemetry rows go (TelemetrySink).

Kept apart from CompletionService so that routes, dependencies and the other services import these
small types without importing the completion service (and so that nothing imports it back).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from gateway.filters.chain import FilterChain
from gateway.protocol.completions import ParsedCompletion
from gateway.service.fim import FimTemplate
from gateway.service.prompt_guard import GuardedPrompt
from gateway.upstream.vllm_client import VllmClient


class TelemetrySink(Protocol):
    def submit(self, table: str, row: dict[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class Caller:
    key_id: int | None
    user: str
    unit_id: str  # keyed hash of the user
    is_admin: bool = False
    machine_id: str | None = None  # keyed hash of the X-Machine-Id header, when sent
    client: str | None = None  # editor/plugin: X-Client, else the User-Agent's first token (A/B segments)


@dataclass(frozen=True, slots=True)
class Plan:
    """How one request is served: the default route, or its experiment arm's overrides."""

    upstream: VllmClient
    model_name: str
    fim: FimTemplate
    filters: FilterChain | None
    req: ParsedCompletion
    experiment: str | None = None
    arm: str | None = None
    prompt: GuardedPrompt | None = None  # secrets found in the prompt (and their placeholders)
    context_snippets: int = 0  # Tabby context rendered before the prefix: how many pieces,
    context_chars: int = 0  # and how many characters (the rendered comment block)
