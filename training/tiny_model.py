"""The small local code model: corpus -> BPE tokenizer -> tiny Llama trained with FIM -> HF folder.

`build_tiny_model(output_dir, TinyModelConfig.preset("default"))` writes a Hugging Face model folder
(safetensors float32 + tokenizer + `codesieve.json`) that vLLM serves; the gateway renders FIM prompts
for it with the "starcoder" template. Deterministic: same config, corpus and torch build => same bytes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import LlamaConfig, LlamaForCausalLM

from training.checkpoint import publish_dir
from training.config import EOT_TOKEN, FIM_PAD_TOKEN, TinyModelConfig
from training.corpus import CorpusSplit, default_corpus_dir, load_corpus
from training.fim import build_training_text, sample_window
from training.tokenizer import train_bpe, wrap_hf

__all__ = ["TinyModelConfig", "build_tiny_model"]

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100  # F.cross_entropy's default ignore_index: padding positions carry no loss
METADATA_FILE = "codesieve.json"


def build_tiny_model(output_dir: Path, cfg: TinyModelConfig, *, corpus_dir: Path | None = None) -> Path:
    """Train the local code model and write it, atomically, to output_dir (replacing what is there).

    Args:
        output_dir: the Hugging Face folder to create.
        cfg: every hyperparameter (see `TinyModelConfig.preset`).
        corpus_dir: a tree of *.py files; default: the running Python's standard library.

    Returns:
        output_dir.

    Raises:
        ValueError: the corpus is missing or too small.
    """
    output_dir = Path(output_dir)
    corpus_root = Path(corpus_dir) if corpus_dir is not None else default_corpus_dir()
    started = time.perf_counter()
    corpus = load_corpus(
        corpus_root,
        heldout_per_mille=cfg.heldout_per_mille,
        max_train_chars=cfg.max_train_chars,
        max_heldout_chars=cfg.max_heldout_chars,
        max_file_chars=cfg.max_file_chars,
    )
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.tmp-", dir=output_dir.parent))
    try:
        staging.chmod(0o755)  # mkdtemp makes it 0700; the served folder is world-readable
        with _torch_threads(cfg.num_threads):
            metrics = _train_and_save(staging, cfg, corpus)
        metrics["train_time_s"] = round(time.perf_counter() - started, 2)
        _write_metadata(staging, cfg, corpus_root, corpus, metrics)
        publish_dir(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("tiny model written to %s: %s", output_dir, metrics)
    return output_dir


def compute_lr(step: int, cfg: TinyModelConfig) -> float:
    """Linear warmup then cosine decay to min_learning_rate (nanoGPT `get_lr`)."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    coeff = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return cfg.min_learning_rate + coeff * (cfg.learning_rate - cfg.min_learning_rate)


def compute_unigram_loss(train_ids: np.ndarray, target_ids: np.ndarray, vocab_size: int) -> float:
    """Cross-entropy (nats/token) of target_ids under the add-one-smoothed unigram model of train_ids."""
    counts = np.bincount(train_ids, minlength=vocab_size).astype(np.float64) + 1.0
    log_probs = np.log(counts / counts.sum())
    return float(-log_probs[target_ids].mean())


@contextlib.contextmanager
def _torch_threads(num_threads: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _token_id(tok: Tokenizer, token: str) -> int:
    """The id of one of the tokenizer's special tokens (a tokenizer without it is not ours)."""
    found = tok.token_to_id(token)
    if found is None:
        raise ValueError(f"the tokenizer has no {token!r} token")
    return int(found)


def _encode_stream(tok: Tokenizer, texts: Sequence[str]) -> np.ndarray:
    """Token ids of the texts, each followed by end-of-text, concatenated."""
    eot = _token_id(tok, EOT_TOKEN)
    ids: list[int] = []
    for enc in tok.encode_batch(list(texts)):
        ids.extend(enc.ids)
        ids.append(eot)
    return np.asarray(ids, dtype=np.int64)


def _build_model(cfg: TinyModelConfig, tok: Tokenizer) -> LlamaForCausalLM:
    # Pad the embedding to a multiple of 64 (nanoGPT's vocab padding: friendlier matmul shapes);
    # the extra rows are never a target, so their logits are pushed down and never sampled.
    vocab_size = 64 * math.ceil(tok.get_vocab_size() / 64)
    eot = tok.token_to_id(EOT_TOKEN)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        head_dim=cfg.head_dim,
        max_position_embeddings=cfg.max_position_embeddings,
        rope_parameters={"rope_type": "default", "rope_theta": cfg.rope_theta},
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,  # DP fine-tuning (issue 7) refuses tied embeddings
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=tok.token_to_id(FIM_PAD_TOKEN),
        use_cache=True,
    )
    torch.manual_seed(cfg.seed)
    model = LlamaForCausalLM(config)
    model.generation_config.bos_token_id = eot
    model.generation_config.eos_token_id = eot
    model.generation_config.pad_token_id = config.pad_token_id
    return model


def _make_batch(tok: Tokenizer, texts: list[str], seq_len: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets), both (B, seq_len-1): texts truncated or right-padded to seq_len tokens."""
    rows = np.full((len(texts), seq_len), pad_id, dtype=np.int64)
    labels = np.full((len(texts), seq_len), IGNORE_INDEX, dtype=np.int64)
    for i, enc in enumerate(tok.encode_batch(texts)):
        ids = enc.ids[:seq_len]
        rows[i, : len(ids)] = ids
        labels[i, : len(ids)] = ids
    # Right padding only, so causal attention never lets a real token see a pad: no mask needed.
    return torch.from_numpy(rows[:, :-1]), torch.from_numpy(labels[:, 1:])


def _loss(model: LlamaForCausalLM, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=inputs, use_cache=False).logits  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE_INDEX)


@torch.no_grad()
def _heldout_loss(model: LlamaForCausalLM, windows: np.ndarray, batch_size: int) -> float:
    """Mean token cross-entropy over (N, seq_len) held-out windows."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(windows), batch_size):
        chunk = torch.from_numpy(windows[start : start + batch_size])
        inputs, targets = chunk[:, :-1], chunk[:, 1:]
        total += _loss(model, inputs, targets).item() * targets.numel()
        count += targets.numel()
    model.train()
    return total / count


def _train_and_save(staging: Path, cfg: TinyModelConfig, corpus: CorpusSplit) -> dict[str, Any]:
    tok = train_bpe(
        corpus.train_texts,
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.bpe_min_frequency,
        max_chars=cfg.tokenizer_train_chars,
    )
    train_stream = _encode_stream(tok, corpus.train_texts)
    heldout_stream = _encode_stream(tok, corpus.heldout_texts)
    n_windows = max(1, min(cfg.eval_tokens, len(heldout_stream)) // cfg.seq_len)
    if len(heldout_stream) < cfg.seq_len:
        raise ValueError(f"held-out files give {len(heldout_stream)} tokens; need >= seq_len={cfg.seq_len}")
    windows = heldout_stream[: n_windows * cfg.seq_len].reshape(n_windows, cfg.seq_len)
    unigram_loss = compute_unigram_loss(train_stream, windows[:, 1:].reshape(-1), tok.get_vocab_size())
    chars_per_token = corpus.train_chars / len(train_stream)

    model = _build_model(cfg, tok)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info(
        "model: %d parameters, %.2f chars/token, unigram held-out loss %.3f", n_params, chars_per_token, unigram_loss
    )
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay
    )
    rng = np.random.default_rng(cfg.seed)
    weights = np.asarray([len(t) for t in corpus.train_texts], dtype=np.float64)
    weights /= weights.sum()
    window_chars = max(16, int(cfg.seq_len * chars_per_token))
    pad_id = _token_id(tok, FIM_PAD_TOKEN)
    model.train()
    for step in range(cfg.max_steps):
        texts = []
        for _ in range(cfg.batch_size):
            window, at_end = sample_window(corpus.train_texts, weights, window_chars=window_chars, rng=rng)
            texts.append(build_training_text(window, at_doc_end=at_end, fim_rate=cfg.fim_rate, rng=rng))
        inputs, targets = _make_batch(tok, texts, cfg.seq_len, pad_id)
        for group in optimizer.param_groups:
            group["lr"] = compute_lr(step, cfg)
        loss = _loss(model, inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        if step % cfg.log_interval == 0 or step == cfg.max_steps - 1:
            logger.info("step %d/%d train loss %.3f", step, cfg.max_steps, loss.item())
    heldout_loss = _heldout_loss(model, windows, cfg.batch_size)
    logger.info("held-out loss %.3f vs unigram %.3f", heldout_loss, unigram_loss)

    wrap_hf(tok, model_max_length=cfg.max_position_embeddings).save_pretrained(staging)
    model.save_pretrained(staging, safe_serialization=True)
    return {
        "heldout_loss": round(heldout_loss, 4),
        "unigram_loss": round(unigram_loss, 4),
        "heldout_tokens": int(windows[:, 1:].size),
        "train_tokens_seen": cfg.max_steps * cfg.batch_size * (cfg.seq_len - 1),
        "n_parameters": n_params,
        "tokenizer_vocab_size": tok.get_vocab_size(),
    }


def _write_metadata(
    staging: Path, cfg: TinyModelConfig, corpus_root: Path, corpus: CorpusSplit, metrics: dict[str, Any]
) -> None:
    import tokenizers
    import transformers

    meta = {
        "fim_template": "starcoder",
        "preset": cfg.name,
        "config": cfg.to_dict(),
        **metrics,
        "corpus": {
            "root": str(corpus_root),
            "train_files": len(corpus.train_paths),
            "train_chars": corpus.train_chars,
            "heldout_files": len(corpus.heldout_paths),
            "heldout_chars": corpus.heldout_chars,
        },
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
        },
    }
    (staging / METADATA_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
