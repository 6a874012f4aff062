"""Shared fixture of the training tests: a cheap tiny base model (tokenizer + a few steps), built once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from training.tiny_model import TinyModelConfig, build_tiny_model


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cheap = dataclasses.replace(
        TinyModelConfig.preset("test"),
        max_train_chars=150_000,
        max_heldout_chars=30_000,
        tokenizer_train_chars=80_000,
        vocab_size=512,
        max_steps=3,
        eval_tokens=1024,
    )
    return build_tiny_model(tmp_path_factory.mktemp("base") / "base", cheap)
