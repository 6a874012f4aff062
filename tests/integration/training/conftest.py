"""Shared fixture of the training tests: a cheap tiny base model (tokenizer + a few steps), built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from factories import cheap_tiny_config
from training.tiny_model import build_tiny_model


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("base") / "base", cheap_tiny_config())
