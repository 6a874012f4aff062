"""Completions of repository tasks over HTTP: OpenAI `/v1/completions` with `suffix` (fill-in-the-middle).

Through the codesieve gateway the filters apply and the gateway renders the model's FIM template; a
choice the gateway blocked is recorded as blocked. The prompt is the cross-file context (as a
comment block) followed by the file up to the body; the suffix is the rest of the file. The model's
text is cut where it leaves the body: at the first non-blank line indented less than the body.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from experiments.bench.generate import GenerationConfig, Sample
from experiments.bench.repo.context import render_context
from experiments.bench.repo.tasks import RepoTask

__all__ = ["cut_body", "generate_repo_samples"]


def cut_body(text: str, indent: str) -> str:
    """`text` up to the first non-blank line indented less than `indent` (the model left the body)."""
    out = []
    for line in text.splitlines(keepends=True):
        if line.strip() and not line.startswith(indent):
            break
        out.append(line)
    body = "".join(out)
    return body if body.endswith("\n") or not body else body + "\n"


def _payload(cfg: GenerationConfig, task: RepoTask, n: int, seed: int) -> dict[str, Any]:
    return {
        "model": cfg.model,
        "prompt": render_context(task.context) + task.prefix,
        "suffix": task.suffix,
        "n": n,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "max_tokens": cfg.max_tokens,
        "seed": seed,
    }


def _samples_for(client: httpx.Client, cfg: GenerationConfig, task: RepoTask, todo: list[int]) -> list[Sample]:
    out: list[Sample] = []
    while len(out) < len(todo):
        want = len(todo) - len(out)
        response = client.post("/v1/completions", json=_payload(cfg, task, want, cfg.seed + todo[len(out)]))
        response.raise_for_status()
        body = response.json()
        block = body.get("x_codesieve") or {}
        choices = sorted(body.get("choices", []), key=lambda c: c.get("index", 0))
        if not choices:
            raise RuntimeError(f"{task.task_id}: the server returned no choices")
        for choice in choices[:want]:
            index = choice.get("index", 0)
            out.append(
                Sample(
                    task_id=task.task_id,
                    sample_idx=todo[len(out)],
                    completion=cut_body(choice.get("text") or "", task.indent),
                    blocked=choice.get("finish_reason") == "content_filter",
                    filters=tuple(f for f in block.get("filters", []) if f.get("choice_index") == index),
                )
            )
    return out


def generate_repo_samples(
    tasks: Sequence[RepoTask], cfg: GenerationConfig, *, done: set[tuple[str, int]] | None = None
) -> Iterator[Sample]:
    """Yield cfg.n samples per task, skipping (task_id, sample_idx) pairs in `done` (resume)."""
    done = done or set()
    headers = {"Authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {}
    work = [(t, [i for i in range(cfg.n) if (t.task_id, i) not in done]) for t in tasks]
    work = [(t, todo) for t, todo in work if todo]
    with httpx.Client(base_url=cfg.endpoint, headers=headers, timeout=cfg.timeout_s) as client:
        with ThreadPoolExecutor(max_workers=cfg.concurrency) as pool:
            futures = [pool.submit(_samples_for, client, cfg, t, todo) for t, todo in work]
            for future in futures:
                yield from future.result()
