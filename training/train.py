"""DP-SGD fine-tuning job: config -> data -> model -> privacy -> loop -> merged HF folder + privacy report.

Launch (one CPU process):
    codesieve train dp --model var/models/tiny-code --data corpus.jsonl --output out/dp-e8 --epsilon 8
    codesieve train dp ... --no-dp                  # the same job without clipping or noise (baseline)
    codesieve train dp ... --resume                 # continue the checkpoint's privacy ledger, or refuse
    codesieve train dp ... --nproc 2                # data-parallel, one ledger (training.distributed)
    codesieve train dp ... --device cuda            # on a GPU (--device auto, the default, picks it when visible)

Opacus `PrivacyEngine` (PRV accountant) with Poisson sampling; `make_private_with_epsilon` calibrates
the noise so that epsilon after the planned steps is within `epsilon_tolerance` below the target, and
the loop never takes a step past the plan. One logical batch = one DP step; `BatchMemoryManager` splits
it into physical batches. An empty Poisson batch still takes a (noise-only) step, as DP-SGD must.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from training import checkpoint as ckpt
from training.config import DPTrainConfig
from training.data import IGNORE_INDEX, build_dataset, compute_data_fingerprint, group_units, load_records
from training.model import (
    apply_finetune_mode,
    check_lora_moved,
    count_trainable,
    load_base_model,
    merge_for_serving,
    snapshot_lora,
)
from training.privacy import build_plan, compute_default_delta, compute_epsilon_prv, compute_epsilon_rdp, compute_steps
from training.ranks import (
    DistContext,
    ShardPoissonSampler,
    gather_checksums,
    rank_device,
    rank_seed,
    resolve_device,
    threads_per_rank,
)

logger = logging.getLogger(__name__)

REPORT_FILE = "privacy_report.json"
CAVEAT = (
    "The guarantee covers only the fine-tuning data, per privacy unit as stated. The base model's "
    "pretraining data is not covered, nor are duplicates of one unit's content inside other units "
    "(deduplicate first)."
)
# Files copied from the base folder so the merged output serves with the same tokenizer and template.
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "codesieve.json")


def sequence_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over sequences of each sequence's mean token loss (the per-unit loss that is clipped).

    logits (B, T, V), targets (B, T) with IGNORE_INDEX on padding. Equal to opacus' ghost criterion
    with `shape=(B, T, V)` and loss_reduction="mean".
    """
    tok = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE_INDEX, reduction="none"
    ).view(targets.shape)  # (B, T)
    valid = (targets != IGNORE_INDEX).sum(dim=1).clamp(min=1)  # (B,)
    return (tok.sum(dim=1) / valid).mean()


def resolve_grad_sample_mode(cfg: DPTrainConfig, model: nn.Module) -> str:
    """ghost clipping when every trainable layer has an opacus norm sampler, else per-sample hooks."""
    if cfg.grad_sample_mode != "auto":
        return cfg.grad_sample_mode
    import opacus.grad_sample  # noqa: F401  (registers the samplers)
    from opacus.grad_sample.grad_sample_module_fast_gradient_clipping import (
        GradSampleModuleFastGradientClipping,
    )

    for module in model.modules():
        if (
            any(p.requires_grad for p in module.parameters(recurse=False))
            and type(module) not in GradSampleModuleFastGradientClipping.NORM_SAMPLERS
        ):
            return "hooks"
    return "ghost"


def make_private(
    engine: Any,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader,
    cfg: DPTrainConfig,
    mode: str,
    noise_multiplier: float,
) -> tuple:
    """Wrap (model, optimizer, loader) for DP; returns (model, optimizer, criterion or None, loader).

    noise_multiplier: the plan's (training.privacy.build_plan), or the resumed checkpoint's.
    """
    common = {
        "module": model,
        "optimizer": optimizer,
        "data_loader": loader,
        "max_grad_norm": cfg.max_grad_norm,
        "poisson_sampling": True,
        "grad_sample_mode": mode,
        "loss_reduction": "mean",
    }
    if mode == "ghost":
        common["criterion"] = nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX)
    out = engine.make_private(noise_multiplier=noise_multiplier, **common)
    return out if mode == "ghost" else (out[0], out[1], None, out[2])


def ledger_steps(engine: Any) -> int:
    """Steps recorded by the accountant (the ledger), summed over its history entries."""
    return int(sum(entry[-1] for entry in engine.accountant.history))


def backward_step(model: nn.Module, criterion: Any, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Forward + backward of one physical batch; criterion is opacus' ghost wrapper or None."""
    logits = model(input_ids=inputs).logits  # (B, T, V)
    if criterion is not None:
        loss = criterion(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), shape=logits.shape)
    else:
        loss = sequence_loss(logits, targets)
    loss.backward()
    return float(loss.item())


def noise_only_grads(optimizer: Any, mode: str) -> None:
    """An empty Poisson batch: zero clipped sum, so the step adds only noise (and is accounted)."""
    for p in optimizer.params:
        if mode == "ghost":
            p.grad = torch.zeros_like(p)
        else:
            p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype, device=p.device)


def _unwrap(model: nn.Module) -> nn.Module:
    """The trained model inside opacus' GradSampleModule and the (DP)DDP wrappers."""
    from opacus.distributed import DifferentiallyPrivateDistributedDataParallel as DPDDP
    from opacus.grad_sample import AbstractGradSampleModule
    from torch.nn.parallel import DistributedDataParallel as DDP

    while True:
        if isinstance(model, AbstractGradSampleModule):
            model = model._module
        elif isinstance(model, (DPDDP, DDP)):
            model = model.module
        else:
            return model


def wrap_data_parallel(model: nn.Module, cfg: DPTrainConfig) -> nn.Module:
    """DP: opacus' DPDDP (no gradient hooks: the DP optimizer all-reduces the clipped, noised sum).
    --no-dp: torch DDP (all-reduces the mean gradient during backward)."""
    if cfg.enable_dp:
        from opacus.distributed import DifferentiallyPrivateDistributedDataParallel as DPDDP

        return DPDDP(model)
    from torch.nn.parallel import DistributedDataParallel as DDP

    return DDP(model)


def shard_poisson_loader(dp_loader: DataLoader, cfg: DPTrainConfig, dist_ctx: DistContext, engine: Any) -> DataLoader:
    """opacus' distributed DP loader with its sampler replaced by ShardPoissonSampler (same q and step
    count; empty local batches kept, an independent generator per rank)."""
    if cfg.secure_mode:
        generator = engine.secure_rng  # a CSPRNG: independent in every process
    else:
        generator = torch.Generator().manual_seed(rank_seed(cfg.seed, dist_ctx.rank))
    sampler = ShardPoissonSampler(
        total_size=len(dp_loader.dataset),  # type: ignore[arg-type]  # a map-style dataset (build_dataset)
        sample_rate=dp_loader.sample_rate,  # type: ignore[attr-defined]  # opacus' DPDataLoader
        rank=dist_ctx.rank,
        world_size=dist_ctx.world_size,
        generator=generator,
        partition_seed=cfg.seed,
    )
    return DataLoader(dp_loader.dataset, batch_sampler=sampler, collate_fn=dp_loader.collate_fn)


def run_dp_training(cfg: DPTrainConfig, dist_ctx: DistContext | None = None) -> dict[str, Any]:
    """The job (or one rank of it, under training.distributed). Returns the privacy report, which
    rank 0 also writes to <output_dir>/privacy_report.json."""
    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads_per_rank(cfg.num_threads, dist_ctx.world_size if dist_ctx else 1))
    try:
        return _run(cfg, started, dist_ctx)
    finally:
        torch.set_num_threads(previous_threads)


def _run(cfg: DPTrainConfig, started: float, dist_ctx: DistContext | None) -> dict[str, Any]:  # noqa: C901  (the linear script)
    from opacus import PrivacyEngine
    from opacus.utils.batch_memory_manager import BatchMemoryManager
    from transformers import AutoTokenizer

    is_main = dist_ctx is None or dist_ctx.is_main  # only rank 0 writes checkpoints and outputs

    # --- data: one dataset item per privacy unit
    units = group_units(load_records(cfg.data_paths), cfg.privacy_unit)
    tokenizer = AutoTokenizer.from_pretrained(cfg.model_dir)
    dataset = build_dataset(units, tokenizer, seq_len=cfg.seq_len, seed=cfg.seed)
    n_units = len(dataset)
    fingerprint = compute_data_fingerprint(units)
    delta = cfg.delta if cfg.delta is not None else compute_default_delta(n_units)
    if cfg.enable_dp and cfg.batch_size > n_units:
        raise ValueError(f"--batch-size {cfg.batch_size} exceeds the {n_units} privacy units")
    ckpt_dir = Path(cfg.resolved_checkpoint_dir)
    saved = None
    if cfg.resume:
        saved = ckpt.read_checkpoint_meta(ckpt_dir)
        ckpt.check_resumable(saved, config=cfg.to_dict(), data_fingerprint=fingerprint)

    # --- model, on this rank's device (the data stays on the CPU until each physical batch moves)
    device = torch.device(rank_device(resolve_device(cfg.device), dist_ctx.rank if dist_ctx else 0))
    model = apply_finetune_mode(load_base_model(cfg.model_dir), cfg).to(device)
    lora_before = snapshot_lora(model)
    n_trainable = count_trainable(model)
    optimizer: Any = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate, weight_decay=cfg.weight_decay
    )
    generator = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=not cfg.enable_dp, generator=generator)
    if dist_ctx is not None:
        model = wrap_data_parallel(model, cfg)
        if not cfg.enable_dp:  # each rank a disjoint 1/world of every epoch, B/world per rank and step
            sampler: DistributedSampler[Any] = DistributedSampler(
                dataset, num_replicas=dist_ctx.world_size, rank=dist_ctx.rank, shuffle=True, seed=cfg.seed
            )
            loader = DataLoader(dataset, batch_size=max(1, cfg.batch_size // dist_ctx.world_size), sampler=sampler)

    # --- privacy
    # from_pretrained returns the model in eval mode (peft's wrapper in LoRA mode happens to flip it);
    # Opacus refuses an eval-mode module, and dropout must be on for training anyway
    model.train()
    engine, criterion, mode = None, None, "none"
    if cfg.enable_dp:
        engine = PrivacyEngine(accountant=cfg.accountant, secure_mode=cfg.secure_mode)
        mode = resolve_grad_sample_mode(cfg, model)
        model, optimizer, criterion, loader = make_private(
            engine,
            model=model,
            optimizer=optimizer,
            loader=loader,
            cfg=cfg,
            mode=mode,
            noise_multiplier=saved["noise_multiplier"] if saved else _plan_noise(cfg, n_units, delta),
        )
        sample_rate = float(loader.sample_rate)  # global: 1/ceil(N/B), as in one process
        if dist_ctx is not None:
            loader = shard_poisson_loader(loader, cfg, dist_ctx, engine)
        planned_steps = compute_steps(sample_rate, cfg.epochs)
        noise_multiplier = float(optimizer.noise_multiplier)
    else:
        sample_rate = cfg.batch_size / n_units
        planned_steps = cfg.epochs * len(loader)
        noise_multiplier = 0.0
    step = 0
    if saved is not None:
        restored = ckpt.load_into(ckpt_dir, engine=engine, module=_unwrap(model), optimizer=optimizer)
        step = int(restored["step"])
        if engine is not None and ledger_steps(engine) != step:
            raise ckpt.ResumeRefusedError(f"ledger has {ledger_steps(engine)} steps, checkpoint says {step}")
        lora_before = {k: torch.as_tensor(v) for k, v in restored["lora_initial"].items()}
    resumed_from = step
    logger.info(
        "plan: %d units, q=%.4f, sigma=%.4f, %d steps (from %d), delta=%.3g, mode=%s, %d trainable, on %s",
        n_units,
        sample_rate,
        noise_multiplier,
        planned_steps,
        step,
        delta,
        mode,
        n_trainable,
        device,
    )

    def save(at_step: int) -> None:
        meta = {
            "config": cfg.to_dict(),
            "step": at_step,
            "noise_multiplier": noise_multiplier,
            "sample_rate": sample_rate,
            "planned_steps": planned_steps,
            "delta": delta,
            "data_fingerprint": fingerprint,
            "lora_initial": lora_before,
            "world_size": dist_ctx.world_size if dist_ctx else 1,
        }
        # the unwrapped model: the same state-dict keys with or without (DP)DDP, so a checkpoint
        # resumes under another --nproc (the ledger does not depend on the number of processes)
        if is_main:
            ckpt.save_checkpoint(ckpt_dir, engine=engine, module=_unwrap(model), optimizer=optimizer, meta=meta)

    # --- loop: one iteration of the outer loop = one pass of the (Poisson) loader
    model.train()
    losses: list[float] = []
    passes = 0
    while step < planned_steps:
        if isinstance(shuffler := getattr(loader, "sampler", None), DistributedSampler):
            shuffler.set_epoch(passes)  # a new shuffle per pass (--no-dp under --nproc)
        passes += 1
        batches = (
            BatchMemoryManager(data_loader=loader, max_physical_batch_size=cfg.physical_batch_size, optimizer=optimizer)
            if engine is not None
            else None
        )
        with batches if batches is not None else contextlib.nullcontext(loader) as phys_loader:
            for batch in phys_loader:
                before = ledger_steps(engine) if engine is not None else step
                if len(batch) == 0 or batch[0].shape[0] == 0:
                    noise_only_grads(optimizer, mode)  # empty Poisson batch: still a DP step
                else:
                    inputs, targets = (t.to(device, non_blocking=True) for t in batch[:2])
                    losses.append(backward_step(model, criterion, inputs, targets))
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                took_step = (ledger_steps(engine) > before) if engine is not None else True
                if not took_step:
                    continue  # a physical batch inside a larger logical one
                step += 1
                if step % cfg.eval_interval == 0 or step == planned_steps:
                    _log_progress(step, planned_steps, losses, engine, delta, cfg)
                if step % cfg.checkpoint_interval == 0 or step == planned_steps:
                    save(step)
                if step >= planned_steps:
                    break  # never past the plan: the noise was calibrated for exactly these steps

    # --- outputs
    base = _unwrap(model)
    lora_moved = check_lora_moved(lora_before, base) if cfg.finetune == "lora" else None
    report = _build_report(
        cfg,
        engine=engine,
        mode=mode,
        n_units=n_units,
        delta=delta,
        q=sample_rate,
        sigma=noise_multiplier,
        steps=step,
        planned_steps=planned_steps,
        resumed_from=resumed_from,
        n_trainable=n_trainable,
        fingerprint=fingerprint,
        lora_moved=lora_moved,
        losses=losses,
        elapsed_s=time.perf_counter() - started,
    )
    report.update(world_size=dist_ctx.world_size if dist_ctx else 1, device=_describe_device(device))
    if dist_ctx is not None:
        report["distributed"] = _check_replicas(base, dist_ctx, cfg)
    if is_main:
        _write_output(cfg, merge_for_serving(base.to("cpu")), report)
    return report


def _plan_noise(cfg: DPTrainConfig, n_units: int, delta: float) -> float:
    """sigma for cfg.target_epsilon over the run's (q, steps) (what opacus' make_private_with_epsilon
    computes: q = 1/ceil(N/B), steps = int(epochs/q), the same accountant and tolerance)."""
    plan = build_plan(
        n_units=n_units,
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
        target_epsilon=cfg.target_epsilon,
        delta=delta,
        accountant=cfg.accountant,
        epsilon_tolerance=cfg.epsilon_tolerance,
    )
    logger.info("privacy plan: q=%.4f, %d steps, sigma=%.4f", plan.sample_rate, plan.steps, plan.noise_multiplier)
    return plan.noise_multiplier


def _describe_device(device: torch.device) -> str:
    """'cpu', or 'cuda (<GPU name>, torch <version>, CUDA <version>)' for the report."""
    if device.type != "cuda":
        return device.type
    return f"cuda ({torch.cuda.get_device_name(device)}, torch {torch.__version__}, CUDA {torch.version.cuda})"


def _check_replicas(model: nn.Module, dist_ctx: DistContext, cfg: DPTrainConfig) -> dict[str, Any]:
    """All ranks must end with bit-identical weights (each applied the same all-reduced update)."""
    checksums = gather_checksums(model)
    if len(set(checksums)) != 1:
        raise RuntimeError(f"data-parallel replicas diverged: weight checksums {checksums}")
    return {
        "backend": dist_ctx.backend,
        "world_size": dist_ctx.world_size,
        "threads_per_process": threads_per_rank(cfg.num_threads, dist_ctx.world_size),
        "sampling": "per-rank Poisson sampling of a fixed shard at the global rate q"
        if cfg.enable_dp
        else "DistributedSampler, batch_size // world_size per rank",
        "replica_checksums": checksums,
    }


def _log_progress(step: int, planned: int, losses: list[float], engine: Any, delta: float, cfg: DPTrainConfig) -> None:
    recent = losses[-cfg.eval_interval :] or [math.nan]
    eps = engine.get_epsilon(delta) if engine is not None else math.inf
    logger.info(
        "step %d/%d loss %.3f epsilon %.3f (target %.2f)",
        step,
        planned,
        sum(recent) / len(recent),
        eps,
        cfg.target_epsilon,
    )
    if engine is not None and eps > cfg.target_epsilon + cfg.epsilon_tolerance:
        raise RuntimeError(f"epsilon {eps:.3f} exceeded the target {cfg.target_epsilon}: aborting")


def _build_report(
    cfg: DPTrainConfig,
    *,
    engine: Any,
    mode: str,
    n_units: int,
    delta: float,
    q: float,
    sigma: float,
    steps: int,
    planned_steps: int,
    resumed_from: int,
    n_trainable: int,
    fingerprint: str,
    lora_moved: float | None,
    losses: list[float],
    elapsed_s: float,
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "dp": cfg.enable_dp,
        "privacy_unit": cfg.privacy_unit,
        "n_units": n_units,
        "delta": delta,
        "target_epsilon": cfg.target_epsilon if cfg.enable_dp else None,
        "steps": steps,
        "planned_steps": planned_steps,
        "resumed_from_step": resumed_from,
        "sample_rate": q,
        "batch_size": cfg.batch_size,
        "expected_batch_size": q * n_units,
        "physical_batch_size": cfg.physical_batch_size,
        "epochs": cfg.epochs,
        "trainable_parameters": n_trainable,
        "finetune": cfg.finetune,
        "lora_max_abs_update": lora_moved,
        "final_train_loss": sum(losses[-10:]) / max(1, len(losses[-10:])) if losses else None,
        "data_fingerprint": fingerprint,
        "elapsed_s": round(elapsed_s, 2),
        "caveat": CAVEAT,
        "config": cfg.to_dict(),
        "git_sha": ckpt.git_sha(),
    }
    if engine is None:
        report.update(
            epsilon=None,
            accountant=None,
            noise_multiplier=0.0,
            max_grad_norm=None,
            note="--no-dp baseline: no clipping, no noise, no privacy guarantee",
        )
        return report
    report.update(
        epsilon=float(engine.get_epsilon(delta)),
        accountant=cfg.accountant,
        noise_multiplier=sigma,
        max_grad_norm=cfg.max_grad_norm,
        grad_sample_mode=mode,
        poisson_sampling=True,
        secure_mode=cfg.secure_mode,
        # Recomputed from (q, sigma, steps) alone, not from the training ledger.
        epsilon_recomputed={
            "prv": compute_epsilon_prv(sample_rate=q, noise_multiplier=sigma, steps=steps, delta=delta),
            "rdp": compute_epsilon_rdp(sample_rate=q, noise_multiplier=sigma, steps=steps, delta=delta),
        },
    )
    return report


def _write_output(cfg: DPTrainConfig, model: nn.Module, report: dict[str, Any]) -> None:
    """Merged HF folder + tokenizer + privacy_report.json, built beside the output and renamed in."""
    output = Path(cfg.output_dir)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    try:
        staging.chmod(0o755)
        save: Any = model.save_pretrained  # a transformers model (torch types Module attributes as Tensor)
        save(staging, safe_serialization=True)
        for name in _TOKENIZER_FILES:
            src = Path(cfg.model_dir) / name
            if src.is_file():
                shutil.copyfile(src, staging / name)
        (staging / REPORT_FILE).write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
        ckpt.publish_dir(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("wrote %s (epsilon=%s)", output, report.get("epsilon"))
