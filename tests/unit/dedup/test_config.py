"""MinhashConfig: defaults from the issue, path string, validation."""

from __future__ import annotations

import dataclasses

import pytest

from dedup.config import MinhashConfig


def test_defaults_match_the_issue() -> None:
    cfg = MinhashConfig()
    assert (cfg.ngram, cfg.num_perm, cfg.bands, cfg.rows, cfg.threshold) == (5, 256, 25, 10, 0.7)
    assert cfg.hash_fn == "sha1_32"


def test_str_names_every_result_changing_parameter() -> None:
    assert str(MinhashConfig()) == "5ng_256p_25b10r_seed1_sha1_32"
    assert str(MinhashConfig(seed=3, hash_fn="xxh32", verify=True, threshold=0.8)) == (
        "5ng_256p_25b10r_seed3_xxh32_verify0.8"
    )


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        MinhashConfig().seed = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"bands": 26, "rows": 10}, "exceeds num_perm"),
        ({"ngram": 0}, "ngram"),
        ({"threshold": 0.0}, "threshold"),
        ({"hash_fn": "md5"}, "hash_fn"),
    ],
)
def test_invalid_configs_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MinhashConfig(**kwargs)
