"""The local code model: the "test" preset learns code (beats a unigram model on held-out files),
loads back through the Hugging Face auto classes with its FIM tokens, and builds are deterministic."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from training.config import SPECIAL_TOKENS
from training.tiny_model import TinyModelConfig, build_tiny_model

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def test_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", TinyModelConfig.preset("test"))


def test_heldout_loss_is_clearly_below_the_unigram_baseline(test_model_dir: Path) -> None:
    meta = json.loads((test_model_dir / "codesieve.json").read_text())
    assert meta["fim_template"] == "starcoder" and meta["preset"] == "test"
    assert meta["heldout_tokens"] >= 8000
    # learned code: at least 15% below the cross-entropy of a training-set unigram model
    assert meta["heldout_loss"] <= 0.85 * meta["unigram_loss"], meta


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
    cheap = dataclasses.replace(
        TinyModelConfig.preset("test"),
        max_train_chars=150_000,
        max_heldout_chars=30_000,
        tokenizer_train_chars=80_000,
        vocab_size=512,
        max_steps=4,
        eval_tokens=1024,
    )
    a = build_tiny_model(tmp_path / "a", cheap)
    b = build_tiny_model(tmp_path / "b", cheap)
    c = build_tiny_model(tmp_path / "c", dataclasses.replace(cheap, seed=cheap.seed + 1))
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()
    # atomic write: nothing but the three outputs is left beside them
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]


def test_rebuild_replaces_the_folder_and_bad_corpus_leaves_nothing(tmp_path: Path) -> None:
    cheap = dataclasses.replace(
        TinyModelConfig.preset("test"),
        max_train_chars=60_000,
        max_heldout_chars=20_000,
        tokenizer_train_chars=40_000,
        vocab_size=512,
        max_steps=1,
        eval_tokens=512,
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
