"""Pure parts of the local-model build: FIM transform, corpus split, LR schedule, unigram baseline."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from training.config import TinyModelConfig
from training.corpus import is_heldout, list_source_files, load_corpus, path_hash
from training.fim import build_training_text, render_psm, split_fim
from training.tiny_model import compute_lr, compute_unigram_loss


def test_split_fim_partitions_the_text_exactly() -> None:
    rng = np.random.default_rng(0)
    text = "def add(a, b):\n    return a + b\n"
    for _ in range(200):
        prefix, middle, suffix = split_fim(text, rng)
        assert prefix + middle + suffix == text


def test_render_psm_is_starcoder_order() -> None:
    assert render_psm("P", "M", "S") == "<fim_prefix>P<fim_suffix>S<fim_middle>M<|endoftext|>"


def test_fim_rate_controls_the_share_of_psm_samples() -> None:
    rng = np.random.default_rng(1)
    texts = [build_training_text("x = 1\n", at_doc_end=False, fim_rate=0.5, rng=rng) for _ in range(2000)]
    share = sum(t.startswith("<fim_prefix>") for t in texts) / len(texts)
    assert 0.45 < share < 0.55
    rng = np.random.default_rng(1)
    assert build_training_text("x = 1\n", at_doc_end=True, fim_rate=0.0, rng=rng) == "x = 1\n<|endoftext|>"


def test_heldout_split_depends_on_the_path_only() -> None:
    # golden: sha256-based, so the same on every machine and Python (unlike the salted hash())
    assert path_hash("os.py") == int.from_bytes(bytes.fromhex("d9d7c69c64b6688c"), "big")
    assert is_heldout("os.py", 50) == (path_hash("os.py") % 1000 < 50)
    share = sum(is_heldout(f"pkg/mod_{i}.py", 50) for i in range(4000)) / 4000
    assert 0.035 < share < 0.065


def test_load_corpus_skips_installed_packages_and_non_utf8(tmp_path: Path) -> None:
    for i in range(6):
        (tmp_path / f"m{i}.py").write_text(f"def f{i}():\n    return {i}\n")
    (tmp_path / "site-packages").mkdir()
    (tmp_path / "site-packages" / "dep.py").write_text("x = 1\n")
    (tmp_path / "latin.py").write_bytes("s = 'caf\xe9'\n".encode("latin-1"))
    assert "site-packages/dep.py" not in list_source_files(tmp_path)
    split = load_corpus(
        tmp_path, heldout_per_mille=50, max_train_chars=10**6, max_heldout_chars=10**6, max_file_chars=10**6
    )
    paths = set(split.train_paths) | set(split.heldout_paths)
    assert paths == {f"m{i}.py" for i in range(6)}
    assert split.heldout_paths and not set(split.train_paths) & set(split.heldout_paths)


def test_load_corpus_refuses_an_empty_tree(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="too small"):
        load_corpus(tmp_path, heldout_per_mille=50, max_train_chars=1000, max_heldout_chars=1000, max_file_chars=1000)


def test_lr_schedule_warms_up_then_decays_to_the_floor() -> None:
    cfg = TinyModelConfig(max_steps=100, warmup_steps=10, learning_rate=1e-3, min_learning_rate=1e-4)
    assert compute_lr(0, cfg) == pytest.approx(1e-4)
    assert compute_lr(9, cfg) == pytest.approx(1e-3)
    assert compute_lr(55, cfg) == pytest.approx(5.5e-4)
    assert compute_lr(100, cfg) == pytest.approx(1e-4)


def test_unigram_loss_golden() -> None:
    train = np.array([0, 0, 0, 1])  # add-one counts over V=3: [4, 2, 1] / 7
    assert compute_unigram_loss(train, np.array([0, 1]), 3) == pytest.approx(-(math.log(4 / 7) + math.log(2 / 7)) / 2)


def test_presets_and_validation() -> None:
    test = TinyModelConfig.preset("test")
    default = TinyModelConfig.preset("default")
    assert test.name == "test" and test.max_position_embeddings >= 512
    assert default.max_position_embeddings >= 1024 and default.head_dim == 64 and test.head_dim == 64
    with pytest.raises(ValueError, match="unknown preset"):
        TinyModelConfig.preset("huge")
    with pytest.raises(ValueError, match="seq_len"):
        TinyModelConfig(seq_len=2048, max_position_embeddings=1024)
