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

The rank primitives (devices, seeds, the sampler, checksums) live in training.ranks, which the
training loop imports; this module only launches the ranks.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch

from training.checkpoint import ResumeRefusedError
from training.config import DPTrainConfig
from training.ranks import GPU_BACKEND, DistContext, backend_for, check_nproc, rank_device, resolve_device
from training.train import run_dp_training

# A rank stuck in a collective (its peer died) gives up after this long; spawn's join normally
# terminates the survivors much sooner.
COLLECTIVE_TIMEOUT = timedelta(minutes=10)
_REPORT_FILE = "report.json"


def launch(cfg: DPTrainConfig, *, process_group: bool = False) -> dict[str, Any]:
    """Run the DP job in cfg.nproc processes (one: in this process); returns rank 0's report.

    process_group: run even a one-process job as a spawned rank of a process group (DPDDP, the
    backend's collectives), which is how the NCCL path is exercised on a machine with one GPU.
    """
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
    for path in sorted(tmp.glob("error-*.json"), key=lambda p: int(p.stem.split("-")[1])):
        err = json.loads(path.read_text())
        if err["kind"] == "resume":
            raise ResumeRefusedError(err["message"]) from None
        raise ValueError(err["message"]) from None
    raise exc
