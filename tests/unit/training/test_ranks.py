"""The per-rank Poisson sampler of `--nproc` (no processes started): the ranks stay in step, their shards
partition the units, each unit is drawn at the global rate q, and the ranks' draws are independent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.config import DPTrainConfig
from training.ranks import (
    ShardPoissonSampler,
    backend_for,
    check_nproc,
    rank_device,
    rank_seed,
    resolve_device,
    threads_per_rank,
)


def _samplers(total: int, q: float, world: int, seed: int = 0, steps: int | None = None) -> list[ShardPoissonSampler]:
    return [
        ShardPoissonSampler(
            total_size=total,
            sample_rate=q,
            rank=r,
            world_size=world,
            generator=torch.Generator().manual_seed(rank_seed(seed, r)),
            partition_seed=seed,
            steps=steps,
        )
        for r in range(world)
    ]


def test_shards_partition_the_units() -> None:
    samplers = _samplers(101, 0.1, 3)
    shards = [set(s.indices.tolist()) for s in samplers]
    assert sorted(len(s) for s in shards) == [33, 34, 34]
    assert set.union(*shards) == set(range(101)) and sum(len(s) for s in shards) == 101
    for s in samplers:
        assert len(s) == 10  # int(1/q) steps, as opacus' Poisson loaders


def test_every_rank_yields_every_step_even_empty_ones() -> None:
    # 10 units per rank, q = 1/20: most local batches are empty, and all of them must be yielded,
    # or the ranks would take different numbers of optimizer steps (mis-paired all-reduces).
    samplers = _samplers(20, 0.05, 2, steps=200)
    batches = [list(s) for s in samplers]
    assert [len(b) for b in batches] == [200, 200]
    empty = [sum(1 for x in b if not x) for b in batches]
    assert all(e > 100 for e in empty)
    for s, b in zip(samplers, batches, strict=True):
        shard = set(s.indices.tolist())
        assert all(set(x) <= shard for x in b)


def test_each_unit_is_drawn_at_the_global_rate() -> None:
    q, steps = 0.1, 4000
    counts = np.zeros(40)
    for s in _samplers(40, q, 2, steps=steps):
        for batch in s:
            counts[batch] += 1
    # binomial(steps, q) per unit: sd = sqrt(4000 * 0.1 * 0.9) = 19; +-5 sd
    assert np.all(np.abs(counts - steps * q) < 5 * np.sqrt(steps * q * (1 - q)))


def _masks(sampler: ShardPoissonSampler) -> np.ndarray:
    """(steps, shard size) booleans: which positions of the rank's shard each batch took."""
    position = {int(u): k for k, u in enumerate(sampler.indices)}
    out = np.zeros((len(sampler), sampler.num_samples), dtype=bool)
    for step, batch in enumerate(sampler):
        out[step, [position[i] for i in batch]] = True
    return out


def test_the_ranks_draws_are_independent() -> None:
    # 50 steps x 100 positions at q = 1/2: independent ranks agree on ~50% of the draws (sd 0.7%).
    r0, r1 = _samplers(200, 0.5, 2, steps=50)
    assert 0.45 < float((_masks(r0) == _masks(r1)).mean()) < 0.55
    # what one seed on every rank (opacus' fallback to the loader's generator) would do: identical
    # masks, so unit k of one shard is in the batch exactly when unit k of the other is
    same = [
        ShardPoissonSampler(
            total_size=200,
            sample_rate=0.5,
            rank=r,
            world_size=2,
            generator=torch.Generator().manual_seed(0),
            partition_seed=0,
            steps=50,
        )
        for r in range(2)
    ]
    assert float((_masks(same[0]) == _masks(same[1])).mean()) == 1.0
    assert rank_seed(0, 0) != rank_seed(0, 1) and rank_seed(0, 1) != rank_seed(1, 0)
    assert 0 <= rank_seed(12345, 7) < 2**63


def test_sampler_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="rank 2"):
        ShardPoissonSampler(total_size=10, sample_rate=0.1, rank=2, world_size=2, generator=None, partition_seed=0)
    with pytest.raises(ValueError, match="sample_rate"):
        ShardPoissonSampler(total_size=10, sample_rate=0.0, rank=0, world_size=2, generator=None, partition_seed=0)


def test_nproc_policy() -> None:
    check_nproc(1, cpus=1)
    check_nproc(4, cpus=4)
    with pytest.raises(ValueError, match="must be >= 1"):
        check_nproc(0, cpus=4)
    with pytest.raises(ValueError, match="exceeds the 4 CPUs"):
        check_nproc(5, cpus=4)
    assert threads_per_rank(2, 2) == 1 and threads_per_rank(8, 2) == 4 and threads_per_rank(1, 4) == 1


def test_cuda_nproc_policy_is_one_gpu_per_rank() -> None:
    check_nproc(2, device="cuda", gpus=2, cpus=1)  # GPU ranks need GPUs, not cores
    with pytest.raises(ValueError, match="exceeds the 1 CUDA device"):
        check_nproc(2, device="cuda", gpus=1)
    with pytest.raises(ValueError, match="names one GPU"):
        check_nproc(2, device="cuda:1", gpus=2)
    assert backend_for("cuda") == backend_for("cuda:1") == "nccl" and backend_for("cpu") == "gloo"
    assert (
        rank_device("cuda", 1) == "cuda:1" and rank_device("cpu", 1) == "cpu" and rank_device("cuda:3", 0) == "cuda:3"
    )


def test_device_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    # fault injection: a machine where torch sees no GPU (CI's, or a CPU build of torch)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="sees no CUDA device.*--device cpu"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="device must be auto, cpu, cuda or cuda:N"):
        DPTrainConfig(device="gpu")
