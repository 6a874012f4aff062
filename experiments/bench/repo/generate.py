"""Completions of repository tasks over HTTP: OpenAI `/v1/completions` with `suffix` (fill-in-the-middle).

Through the codesieve gateway the filters apply and the gateway renders the model's FIM template; a
choice the gateway blocked is recorded as blocked. The prompt is the cross-file context (as a
comment block) followed by the file up to the body; the suffix is the rest of the file; both are
windowed around the cursor the way an editor sends them (the last `prefix_chars` of the prompt, the
first `suffix_chars` of the suffix, cut at line boundaries), so that they fit the model's context.
The model's text is cut where it leaves the body: at the first non-blank line indented less than it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from experiments.bench.generate import GenerationConfig, Sample, request_samples
from experiments.bench.repo.context import render_context
from experiments.bench.repo.tasks import RepoTask

__all__ = ["PromptWindow", "cut_body", "generate_repo_samples", "prompt_and_suffix"]


@dataclass(frozen=True)
class PromptWindow:
    """How much of the file around the cursor a request carries (characters)."""

    prefix_chars: int = 8000  # context + prefix
    suffix_chars: int = 2000


def prompt_and_suffix(task: RepoTask, window: PromptWindow) -> tuple[str, str]:
    """The request's prompt (context + prefix, its tail) and suffix (its head), whole lines only."""
    prompt = render_context(task.context) + task.prefix
    if len(prompt) > window.prefix_chars:
        tail = prompt[-window.prefix_chars :]
        prompt = tail[tail.find("\n") + 1 :] if "\n" in tail[:-1] else tail
    suffix = task.suffix
    if len(suffix) > window.suffix_chars:
        head = suffix[: window.suffix_chars]
        suffix = head[: head.rfind("\n") + 1] if "\n" in head else ""
    return prompt, suffix


def cut_body(text: str, indent: str) -> str:
    """`text` up to the first non-blank line indented less than `indent` (the model left the body)."""
    out = []
    for line in text.splitlines(keepends=True):
        if line.strip() and not line.startswith(indent):
            break
        out.append(line)
    body = "".join(out)
    return body if body.endswith("\n") or not body else body + "\n"


def _payload(cfg: GenerationConfig, window: PromptWindow, task: RepoTask, n: int, seed: int) -> dict[str, Any]:
    prompt, suffix = prompt_and_suffix(task, window)
    return {
        "model": cfg.model,
        "prompt": prompt,
        "suffix": suffix,
        "n": n,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "max_tokens": cfg.max_tokens,
        "seed": seed,
    }


def _samples_for(
    client: httpx.Client, cfg: GenerationConfig, window: PromptWindow, task: RepoTask, todo: list[int]
) -> list[Sample]:
    return request_samples(
        client,
        task.task_id,
        todo,
        lambda n, seed: _payload(cfg, window, task, n, seed),
        lambda text: cut_body(text, task.indent),
        cfg.seed,
    )


def generate_repo_samples(
    tasks: Sequence[RepoTask],
    cfg: GenerationConfig,
    *,
    window: PromptWindow | None = None,
    done: set[tuple[str, int]] | None = None,
) -> Iterator[Sample]:
    """Yield cfg.n samples per task, skipping (task_id, sample_idx) pairs in `done` (resume)."""
    done = done or set()
    window = window or PromptWindow()
    headers = {"Authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {}
    work = [(t, [i for i in range(cfg.n) if (t.task_id, i) not in done]) for t in tasks]
    work = [(t, todo) for t, todo in work if todo]
    with httpx.Client(base_url=cfg.endpoint, headers=headers, timeout=cfg.timeout_s) as client:
        with ThreadPoolExecutor(max_workers=cfg.concurrency) as pool:
            futures = [pool.submit(_samples_for, client, cfg, window, t, todo) for t, todo in work]
            for future in futures:
                yield from future.result()
