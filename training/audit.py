"""Memorization audit of a model folder: canary exposure (Secret Sharer) and k-extractable memorization.

`run_audit(model_dir, canaries, records)` -> a plain dict; `render_markdown(rows)` compares models.
Extraction (Carlini et al. 2021/2023): greedy continuation of a training prefix; a record is extracted
when the continuation equals its true next `suffix_tokens` tokens exactly.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from training.canaries import CanarySet, compute_exposure, compute_rank

logger = logging.getLogger(__name__)


@torch.no_grad()
def score_secrets(
    model: Any, tokenizer: Any, canaries: CanarySet, secrets: Sequence[str], batch_size: int = 128
) -> np.ndarray:
    """Log-perplexity (nats, summed) of each secret's tokens given the canary prefix."""
    prefix_ids = tokenizer(canaries.prefix, add_special_tokens=False)["input_ids"]
    rows = [tokenizer(canaries.text(s), add_special_tokens=False)["input_ids"] for s in secrets]
    scores = np.zeros(len(rows))
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        width = max(len(r) for r in chunk)
        ids = torch.full((len(chunk), width), tokenizer.pad_token_id or 0, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.bool)
        for i, r in enumerate(chunk):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = True
        logp = torch.log_softmax(model(input_ids=ids).logits[:, :-1].float(), dim=-1)  # (B, T-1, V)
        tok_logp = logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # (B, T-1)
        # score only the tokens after the shared prefix (the secret and the closing quote)
        scored = mask[:, 1:].clone()
        scored[:, : max(0, len(prefix_ids) - 1)] = False
        scores[start : start + len(chunk)] = (-(tok_logp * scored).sum(dim=1)).numpy()
    return scores


def compute_canary_exposures(model: Any, tokenizer: Any, canaries: CanarySet) -> dict[int, list[float]]:
    """Exposure of every inserted canary, grouped by how many times it was inserted."""
    ref_scores = score_secrets(model, tokenizer, canaries, canaries.references)
    secrets = sorted(canaries.inserted)
    scores = score_secrets(model, tokenizer, canaries, secrets)
    by_count: dict[int, list[float]] = {c: [] for c in canaries.insertion_counts}
    for secret, score in zip(secrets, scores, strict=True):
        rank = compute_rank(float(score), ref_scores)
        by_count[canaries.inserted[secret]].append(compute_exposure(rank, len(ref_scores) + 1))
    return by_count


@torch.no_grad()
def compute_extraction_rate(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    prefix_tokens: int,
    suffix_tokens: int,
    max_samples: int,
    seed: int,
) -> tuple[float, int]:
    """Share of sampled training texts whose true suffix greedy decoding reproduces exactly."""
    candidates = [
        ids
        for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        if len(ids) >= prefix_tokens + suffix_tokens
    ]
    if not candidates:
        return 0.0, 0
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(candidates), size=min(max_samples, len(candidates)), replace=False)
    hits = 0
    for i in picked:
        ids = candidates[int(i)]
        start = int(rng.integers(0, len(ids) - prefix_tokens - suffix_tokens + 1))
        prefix = torch.tensor([ids[start : start + prefix_tokens]])
        truth = ids[start + prefix_tokens : start + prefix_tokens + suffix_tokens]
        out = model.generate(
            prefix,
            max_new_tokens=suffix_tokens,
            min_new_tokens=suffix_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
        hits += out[0, prefix_tokens:].tolist() == truth
    return hits / len(picked), len(picked)


def run_audit(
    model_dir: str,
    canaries: CanarySet,
    texts: Sequence[str],
    *,
    prefix_tokens: int = 32,
    suffix_tokens: int = 16,
    max_samples: int = 100,
    seed: int = 0,
) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    exposures = compute_canary_exposures(model, tokenizer, canaries)
    rate, n = compute_extraction_rate(
        model,
        tokenizer,
        texts,
        prefix_tokens=prefix_tokens,
        suffix_tokens=suffix_tokens,
        max_samples=max_samples,
        seed=seed,
    )
    result = {
        "model": model_dir,
        "exposure_mean": {str(c): statistics.fmean(v) for c, v in exposures.items() if v},
        "exposure_max": {str(c): max(v) for c, v in exposures.items() if v},
        # standard error of each group's mean: at chance exposure is ~exponential, sd ~ 1.44 bits,
        # so with k canaries the mean is only known to ~1.44/sqrt(k) bits
        "exposure_sem": {str(c): statistics.stdev(v) / len(v) ** 0.5 for c, v in exposures.items() if len(v) > 1},
        "canaries_per_count": {str(c): len(v) for c, v in exposures.items()},
        "n_references": len(canaries.references),
        "chance_exposure_bits": float(np.log2(np.e)),
        "extraction_rate": rate,
        "extraction_samples": n,
        "prefix_tokens": prefix_tokens,
        "suffix_tokens": suffix_tokens,
    }
    logger.info("audit %s: exposure %s, extraction %.3f", model_dir, result["exposure_mean"], rate)
    return result


def _exposure_cell(result: dict[str, Any], count: str) -> str:
    """ "mean ± standard error" of one insertion-count group ("mean" alone for a single canary)."""
    mean = result["exposure_mean"].get(count, float("nan"))
    sem = result.get("exposure_sem", {}).get(count)
    return f"{mean:.2f}" if sem is None else f"{mean:.2f} ± {sem:.2f}"


def render_markdown(rows: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """A comparison table: one row per (label, audit result)."""
    counts = sorted({int(c) for _, r in rows for c in r["exposure_mean"]})
    head = "| model | " + " | ".join(f"exposure x{c} (bits)" for c in counts) + " | extraction rate |"
    lines = [head, "|" + "---|" * (len(counts) + 2)]
    for label, r in rows:
        cells = [_exposure_cell(r, str(c)) for c in counts]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {r['extraction_rate']:.3f} |")
    chance = rows[0][1]["chance_exposure_bits"] if rows else float(np.log2(np.e))
    lines.append("")
    lines.append(
        f"Exposure at chance is ~{chance:.2f} bits; the maximum is log2(|R|) = "
        f"{np.log2(rows[0][1]['n_references'] + 1) if rows else 0:.2f} bits."
    )
    per_count = rows[0][1].get("canaries_per_count") if rows else None
    if per_count:
        lines.append(f"Cells: mean ± standard error over the canaries of each group ({per_count} per group).")
    return "\n".join(lines) + "\n"
