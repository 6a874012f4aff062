"""Data-parallel DP-SGD (`codesieve train dp --nproc N`): N local processes, one privacy ledger.

How Opacus 1.6 runs DP-SGD under data parallelism, and what this module adds to it:
- The model is wrapped in opacus' `DPDDP` (it broadcasts rank 0's weights and adds no gradient hooks),
  so `make_private` picks `DistributedDPOptimizer` (per-sample hooks) or
  `DistributedDPOptimizerFastGradientClipping` (ghost clipping): each rank clips its own per-sample
  gradients, rank 0 alone adds the noise N(0, sigma^2 C^2), and the sum is all-reduced. The update is
  the single-process DP-SGD update of the global batch. (torch DDP would all-reduce the unclipped
  gradients inside backward; with ghost clipping's second backward it would reduce twice.)
- One ledger: q is the global rate 1/ceil(N/B) taken from the full-dataset loader exactly as in one
  process, so the calibrated sigma, the planned steps and epsilon are those of the single-process job.
  Every rank keeps the same ledger (one accounted step per global step); rank 0 reports it.
- Sampling: each rank Poisson-samples a fixed shard of the units with that q (the design of opacus'
  `DistributedUniformWithReplacementSampler`), so every unit is still in a step's global batch
  independently with probability q. Two fixes over opacus' sampler (`ShardPoissonSampler`):
  an empty local batch is yielded, not skipped (skipping leaves the ranks with different step counts:
  mis-paired all-reduces, a hang at the end, and accounted steps that did not happen); and each rank
  draws from its own generator, seeded from (seed, rank) or the CSPRNG in secure mode (opacus falls
  back to the loader's generator, the same seed on every rank, which makes the inclusion of units on
  different ranks perfectly correlated: not Poisson sampling).
- Only rank 0 writes checkpoints, the merged model and privacy_report.json. At the end the ranks
  compare a checksum of their trainable weights, which must be bit-identical (same all-reduced update).

Processes are started with torch.multiprocessing (spawn) and meet through a file store in a private
temporary folder (no TCP port to pick). Backend: gloo on CPU, one core per rank; NCCL on CUDA, one GPU
per rank (rank r on cuda:r; NCCL refuses two ranks on one GPU, so --nproc is capped by the GPUs visible).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from training.config import DPTrainConfig

logger = logging.getLogger(__name__)

CPU_BACKEND = "gloo"
GPU_BACKEND = "nccl"
# A rank stuck in a collective (its peer died) gives up after this long; spawn's join normally
# terminates the survivors much sooner.
COLLECTIVE_TIMEOUT = timedelta(minutes=10)
_REPORT_FILE = "report.json"


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


def launch(cfg: DPTrainConfig, *, process_group: bool = False) -> dict[str, Any]:
    """Run the DP job in cfg.nproc processes (one: in this process); returns rank 0's report.

    process_group: run even a one-process job as a spawned rank of a process group (DPDDP, the
    backend's collectives), which is how the NCCL path is exercised on a machine with one GPU.
    """
    from training.train import run_dp_training

    check_nproc(cfg.nproc, device=resolve_device(cfg.device))
    if cfg.nproc == 1 and not process_group:
        return run_dp_training(cfg)
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="codesieve-ddp-") as tmp:
        try:
            mp.spawn(_worker, args=(cfg, tmp, logging.getLogger().level), nprocs=cfg.nproc, join=True)
        except (mp.ProcessRaisedException, mp.ProcessExitedException) as exc:
            _raise_worker_error(Path(tmp), exc)
        return json.loads((Path(tmp) / _REPORT_FILE).read_text())


def _worker(rank: int, cfg: DPTrainConfig, tmp: str, log_level: int) -> None:
    """One rank: join the group, train, rank 0 hands its report back through `tmp`."""
    import torch.distributed as dist

    from training.checkpoint import ResumeRefusedError
    from training.train import run_dp_training

    logging.basicConfig(
        level=log_level if rank == 0 else max(log_level, logging.WARNING),
        format=f"%(asctime)s %(levelname)s rank{rank} %(name)s: %(message)s",
    )
    if rank != 0:
        warnings.simplefilter("ignore")  # the libraries' warnings, once (from rank 0) rather than N times
    device = resolve_device(cfg.device)
    backend = backend_for(device)
    if backend == GPU_BACKEND:
        torch.cuda.set_device(rank_device(device, rank))  # before NCCL's communicator is made
    dist.init_process_group(
        backend,
        init_method=f"file://{tmp}/rendezvous",
        rank=rank,
        world_size=cfg.nproc,
        timeout=COLLECTIVE_TIMEOUT,
    )
    try:
        report = run_dp_training(cfg, dist_ctx=DistContext(rank=rank, world_size=cfg.nproc, backend=backend))
        if rank == 0:
            (Path(tmp) / _REPORT_FILE).write_text(json.dumps(report, default=str))
    except (ValueError, ResumeRefusedError) as exc:  # bad input: the parent turns it into a CLI error
        kind = "resume" if isinstance(exc, ResumeRefusedError) else "value"
        (Path(tmp) / f"error-{rank}.json").write_text(json.dumps({"kind": kind, "message": str(exc)}))
        raise
    finally:
        dist.destroy_process_group()


def _raise_worker_error(tmp: Path, exc: Exception) -> None:
    """Re-raise a rank's input error as itself (lowest rank first); anything else as it came."""
    from training.checkpoint import ResumeRefusedError

    for path in sorted(tmp.glob("error-*.json"), key=lambda p: int(p.stem.split("-")[1])):
        err = json.loads(path.read_text())
        if err["kind"] == "resume":
            raise ResumeRefusedError(err["message"]) from None
        raise ValueError(err["message"]) from None
    raise exc
