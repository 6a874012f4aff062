"""DP-SGD overhead: time per step and peak memory, DP (ghost clipping, per-sample hooks) vs no DP.

Same model (a Llama the size of the local model's default preset, LoRA rank 8 on the attention
projections, or full fine-tuning with --full), same batch, same optimizer. Each mode runs in its own
process so the peak RSS (ru_maxrss) is that mode's alone.

    .venv/bin/python benchmarks/dp_overhead.py [--batch 16] [--seq-len 128] [--steps 8] [--threads 2] [--full]
        [--device cpu|cuda] [--hidden 256 --layers 2]

On CUDA the peak memory column is torch's peak allocated GPU memory (the model, activations, per-sample
gradients or norms), and each step is timed to the end of its kernels (torch.cuda.synchronize).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import queue as queue_mod
import resource
import statistics
import sys
import time
from pathlib import Path

# This folder holds scripts named like the packages (benchmarks/dedup_*.py): the repository root
# must come first on sys.path, also in the spawned children.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _run_mode(mode: str, args: argparse.Namespace, queue: mp.Queue) -> None:
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from transformers import LlamaConfig, LlamaForCausalLM

    from training.config import DPTrainConfig
    from training.model import apply_finetune_mode
    from training.train import backward_step, make_private

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    heads = args.hidden // 64
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=2048,
            hidden_size=args.hidden,
            intermediate_size=args.hidden * 5 // 2,
            num_hidden_layers=args.layers,
            num_attention_heads=heads,
            num_key_value_heads=heads,
            head_dim=64,
            max_position_embeddings=1024,
            tie_word_embeddings=False,
        )
    )
    model.config.use_cache = False
    cfg = DPTrainConfig(
        finetune="full" if args.full else "lora", lora_rank=8, lora_alpha=16, batch_size=args.batch, max_grad_norm=1.0
    )
    model = apply_finetune_mode(model, cfg).to(device)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    g = torch.Generator().manual_seed(1)
    inputs = torch.randint(0, 2048, (args.batch, args.seq_len), generator=g)
    targets = torch.randint(0, 2048, (args.batch, args.seq_len), generator=g)
    inputs, targets = inputs.to(device), targets.to(device)
    criterion = None
    if mode != "no-dp":
        import opacus

        loader = DataLoader(TensorDataset(inputs, targets), batch_size=args.batch)
        model, opt, criterion, _ = make_private(
            opacus.PrivacyEngine(accountant="prv"),
            model=model,
            optimizer=opt,
            loader=loader,
            cfg=cfg,
            mode=mode,
            delta=1e-5,
            noise_multiplier=1.0,
        )
    times = []
    for step in range(args.steps + 2):
        t0 = time.perf_counter()
        if mode == "no-dp":
            from training.train import sequence_loss

            loss = sequence_loss(model(input_ids=inputs).logits, targets)
            loss.backward()
        else:
            backward_step(model, criterion, inputs, targets)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= 2:  # two warm-up steps
            times.append(time.perf_counter() - t0)
    if device.type == "cuda":
        peak_mib = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((mode, statistics.median(times), peak_mib))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA")
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--hidden", type=int, default=256, help="hidden size (a multiple of 64; 256 = the local model)")
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()
    if args.hidden % 64 or args.hidden < 64:
        parser.error("--hidden must be a positive multiple of 64")
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            parser.error(f"--device {args.device}: torch {torch.__version__} sees no CUDA device")
    ctx = mp.get_context("spawn")
    results = {}
    for mode in ("no-dp", "ghost", "hooks"):
        queue = ctx.Queue()
        proc = ctx.Process(target=_run_mode, args=(mode, args, queue))
        proc.start()
        while True:
            try:
                name, step_s, rss_mib = queue.get(timeout=5)
                break
            except queue_mod.Empty:
                if not proc.is_alive():
                    raise SystemExit(f"mode {mode} failed (exit code {proc.exitcode})") from None
        proc.join()
        results[name] = (step_s, rss_mib)
    base_s, base_mib = results["no-dp"]
    where = f"{args.threads} threads" if args.device == "cpu" else _gpu_name()
    print(
        f"hidden {args.hidden} x {args.layers} layers, batch {args.batch} x seq {args.seq_len}, "
        f"{'full' if args.full else 'LoRA r=8'}, {args.device} ({where}), median of {args.steps} steps"
    )
    memory = "peak_rss_MiB" if args.device == "cpu" else "peak_gpu_MiB"
    print(f"{'mode':8} {'step_ms':>9} {'x no-dp':>8} {memory:>13} {'x no-dp':>8}")
    for name, (step_s, mib) in results.items():
        print(f"{name:8} {step_s * 1000:9.1f} {step_s / base_s:8.2f} {mib:13.0f} {mib / base_mib:8.2f}")


def _gpu_name() -> str:
    import torch

    return f"{torch.cuda.get_device_name()}, torch {torch.__version__}"


if __name__ == "__main__":
    main()
