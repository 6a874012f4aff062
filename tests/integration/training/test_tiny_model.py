"""The local code model: the "test" preset learns code (beats a unigram model on held-out files),
loads back through the Hugging Face auto classes with its FIM tokens, and builds are deterministic."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from factories import cheap_tiny_config
from training.config import SPECIAL_TOKENS
from training.tiny_model import TinyModelConfig, build_tiny_model

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def test_model_dir(tiny_model_dir: Path) -> Path:
    return tiny_model_dir  # the session's "test" preset model (the one vLLM serves in the gateway tests)


def test_heldout_loss_is_clearly_below_the_unigram_baseline(test_model_dir: Path) -> None:
    """Measured here, not read from the build's own report: the model's cross-entropy on held-out
    stdlib files (never trained on) against a unigram model of the training files' tokens."""
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.corpus import default_corpus_dir, load_corpus

    meta = json.loads((test_model_dir / "codesieve.json").read_text())
    assert meta["fim_template"] == "starcoder" and meta["preset"] == "test"
    cfg = TinyModelConfig.preset("test")
    split = load_corpus(
        default_corpus_dir(),
        heldout_per_mille=cfg.heldout_per_mille,
        max_train_chars=cfg.max_train_chars,
        max_heldout_chars=60_000,
        max_file_chars=cfg.max_file_chars,
    )
    assert not set(split.heldout_paths) & set(split.train_paths)
    tok = AutoTokenizer.from_pretrained(test_model_dir)
    model = AutoModelForCausalLM.from_pretrained(test_model_dir).eval()
    counts = np.ones(len(tok), dtype=np.float64)  # add-one smoothing
    for text in split.train_texts:
        np.add.at(counts, np.array(tok(text)["input_ids"]), 1)
    unigram_logp = np.log(counts / counts.sum())
    heldout = np.concatenate([np.array(tok(t)["input_ids"]) for t in split.heldout_texts])
    window = 256
    losses, unigram = [], []
    with torch.no_grad():
        for i in range(0, min(len(heldout), 16_384) - window, window):
            ids = torch.tensor(heldout[i : i + window + 1])[None]
            out = model(ids[:, :-1], labels=None).logits
            logp = torch.log_softmax(out[0], dim=-1).gather(1, ids[0, 1:, None])[:, 0]
            losses.append(-logp.mean().item())
            unigram.append(-unigram_logp[heldout[i + 1 : i + window + 1]].mean())
    assert len(losses) >= 16
    model_ce, unigram_ce = float(np.mean(losses)), float(np.mean(unigram))
    # learned code: clearly below (at least 15% under) a unigram model's cross-entropy
    assert model_ce <= 0.85 * unigram_ce, (model_ce, unigram_ce)


def test_folder_loads_with_auto_classes_and_fim_tokens(test_model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(test_model_dir)
    model = AutoModelForCausalLM.from_pretrained(test_model_dir)
    assert tok.eos_token == "<|endoftext|>" and tok.bos_token == "<|endoftext|>"
    prompt = "<fim_prefix>def f(x):\n<fim_suffix>\n    return y\n<fim_middle>"
    ids = tok(prompt)["input_ids"]
    for special in SPECIAL_TOKENS[1:4]:
        assert tok.convert_tokens_to_ids(special) in ids  # one token each, not spelled out
    assert tok.decode(ids) == prompt
    assert not model.config.tie_word_embeddings and model.dtype == torch.float32
    assert model.config.max_position_embeddings >= 512


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path: Path) -> None:
    cheap = cheap_tiny_config(max_steps=4)
    a = build_tiny_model(tmp_path / "a", cheap)
    b = build_tiny_model(tmp_path / "b", cheap)
    c = build_tiny_model(tmp_path / "c", dataclasses.replace(cheap, seed=cheap.seed + 1))
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()
    # atomic write: nothing but the three outputs is left beside them
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]


def test_rebuild_replaces_the_folder_and_bad_corpus_leaves_nothing(tmp_path: Path) -> None:
    cheap = cheap_tiny_config(
        max_train_chars=60_000, max_heldout_chars=20_000, tokenizer_train_chars=40_000, max_steps=1, eval_tokens=512
    )
    out = tmp_path / "m"
    build_tiny_model(out, cheap)
    (out / "stale.txt").write_text("old")
    build_tiny_model(out, cheap)
    assert not (out / "stale.txt").exists() and (out / "config.json").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="too small"):
        build_tiny_model(tmp_path / "never", cheap, corpus_dir=empty)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "m"]
