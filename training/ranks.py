"""Rank primitives of data-parallel DP-SGD: a process' place in the job, devices and backends, per-rank
threads and seeds, the shard Poisson sampler, and the replicas' weight checksums.

The training loop (training.train) imports these; the process launcher (training.distributed) starts
the ranks that run it. See training.distributed for how Opacus runs DP-SGD under data parallelism.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

logger = logging.getLogger(__name__)

CPU_BACKEND = "gloo"
GPU_BACKEND = "nccl"


@dataclass(frozen=True)
class DistContext:
    """This process' place in a data-parallel job."""

    rank: int
    world_size: int
    backend: str = CPU_BACKEND

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def available_cpus() -> int:
    """CPUs this process may run on (affinity/cgroup cpusets included), not the host's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def resolve_device(requested: str) -> str:
    """--device: auto -> cuda when torch sees a GPU, else cpu; cuda without a GPU is an error."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"--device {requested}: torch {torch.__version__} sees no CUDA device "
                "(a CPU build of torch, or no GPU visible); use --device cpu"
            )
        index = int(requested.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ValueError(f"--device {requested}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return requested


def backend_for(device: str) -> str:
    return GPU_BACKEND if device.startswith("cuda") else CPU_BACKEND


def rank_device(device: str, rank: int) -> str:
    """The device of one rank: cuda:<rank> under a CUDA job (one GPU each), else the job's device."""
    return f"cuda:{rank}" if device == "cuda" else device


def check_nproc(nproc: int, cpus: int | None = None, device: str = "cpu", gpus: int | None = None) -> None:
    """Refuse --nproc < 1, more CPU processes than CPUs, and more CUDA processes than GPUs.

    Each rank computes on its own and then waits in every all-reduce for the slowest one: with more
    ranks than cores they time-slice, every step waits for the descheduled ones, and the job is slower
    than with fewer processes (and than one process) while using N times the memory. Such a value is
    a mistake, so it is an error rather than a warning. On CUDA each rank needs a GPU of its own
    (NCCL refuses two ranks on one device).
    """
    if nproc < 1:
        raise ValueError(f"--nproc must be >= 1, not {nproc}")
    if device.startswith("cuda"):
        if nproc > 1 and device != "cuda":
            raise ValueError(f"--device {device} names one GPU: a --nproc {nproc} job takes --device cuda")
        gpus = torch.cuda.device_count() if gpus is None else gpus
        if nproc > gpus:
            raise ValueError(
                f"--nproc {nproc} exceeds the {gpus} CUDA device(s) visible: NCCL needs one GPU per process"
            )
        return
    cpus = available_cpus() if cpus is None else cpus
    if nproc > cpus:
        raise ValueError(
            f"--nproc {nproc} exceeds the {cpus} CPUs available: on CPU each process needs a core of its own "
            "(oversubscribed ranks wait for each other at every step)"
        )


def threads_per_rank(total_threads: int, world_size: int) -> int:
    """--threads is the job's budget of torch intra-op threads, split evenly over the processes."""
    return max(1, total_threads // world_size)


def rank_seed(seed: int, rank: int) -> int:
    """An independent 63-bit seed per (seed, rank), by numpy's SeedSequence (no overlap of streams)."""
    return int(np.random.SeedSequence([seed, rank]).generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))


class ShardPoissonSampler(Sampler[list[int]]):
    """Poisson sampling of this rank's shard: `steps` batches, each unit of the shard in a batch
    independently with probability `sample_rate`; empty batches are yielded (the ranks stay in step).

    The shards are a random partition of range(total_size) by `partition_seed`, the same on every rank.
    `num_samples` and `sample_rate` are the attributes opacus' BatchSplittingSampler sizes itself by.
    """

    def __init__(
        self,
        *,
        total_size: int,
        sample_rate: float,
        rank: int,
        world_size: int,
        generator: torch.Generator | None,
        partition_seed: int,
        steps: int | None = None,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        if not 0 < sample_rate <= 1:
            raise ValueError("sample_rate must be in (0, 1]")
        perm = torch.randperm(total_size, generator=torch.Generator().manual_seed(partition_seed))
        self.indices = perm[rank::world_size]
        self.num_samples = len(self.indices)
        self.sample_rate = sample_rate
        self.generator = generator
        self.steps = int(1 / sample_rate) if steps is None else steps  # opacus' count for one epoch

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):  # noqa: ANN204  (a generator of index lists)
        for _ in range(self.steps):
            mask = torch.rand(self.num_samples, generator=self.generator) < self.sample_rate
            yield self.indices[mask].tolist()


def weights_checksum(module: torch.nn.Module) -> str:
    """sha256 over the trainable parameters (name, bytes), in name order."""
    h = hashlib.sha256()
    for name, p in sorted(module.named_parameters(), key=lambda kv: kv[0]):
        if p.requires_grad:
            h.update(name.encode())
            h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def gather_checksums(module: torch.nn.Module) -> list[str]:
    """Every rank's weights_checksum, in rank order (a collective: all ranks must call it)."""
    import torch.distributed as dist

    mine = weights_checksum(module)
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, mine)
    return [str(c) for c in out]
