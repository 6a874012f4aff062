"""What DP and dedup buy: canary exposure and extraction rate of fine-tuned local models.

Fine-tunes the local model ("test" preset, or --base DIR) on private code (stdlib files the base model
held out) plus canaries inserted 1, 4 and 16 times, then audits: base model; no DP; DP at epsilon 8
and 3; and no DP / DP epsilon 8 on the exact-deduplicated corpus (the repeated canaries collapse to one
copy). Prints a Markdown table (the README's) and writes JSON next to it.

Sizes: 32 canaries per insertion count and 9,999 reference secrets. At chance a canary's exposure is
~exponential with mean and sd log2(e) ~ 1.44 bits, so a group mean over 32 canaries has a standard
error of ~0.25 bits (4 canaries gave ~0.7: only indicative); 10,000 candidates put the ceiling at
13.3 bits. Cost: ~1,000 s of CPU time (measured: 1,025 s CPU, 47 min wall on the 2-core machine
while other jobs kept its load average at ~9).

    .venv/bin/python benchmarks/dp_memorization.py --workdir var/bench/dp_mem [--base DIR] [--epochs 4]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/dedup*.py shadow packages


def _write_corpus(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("var/bench/dp_memorization"))
    parser.add_argument("--base", type=Path, default=None, help="base model folder [default: build 'test']")
    parser.add_argument("--files", type=int, default=240, help="private files to fine-tune on")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--canaries", type=int, default=32, help="canaries per insertion count")
    parser.add_argument("--references", type=int, default=9999, help="never-inserted reference secrets")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--finetune", choices=("lora", "full"), default="lora", help="LoRA (rank 16) or all weights")
    parser.add_argument("--runs", default="all", help="comma-separated run labels, e.g. 'no DP,DP eps=8'")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from training.audit import render_markdown, run_audit
    from training.canaries import build_canaries, canary_records
    from training.config import DPTrainConfig, TinyModelConfig
    from training.corpus import default_corpus_dir, is_heldout, list_source_files
    from training.tiny_model import build_tiny_model
    from training.train import run_dp_training

    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    base = args.base or work / "base"
    if not (base / "config.json").is_file():
        build_tiny_model(base, TinyModelConfig.preset("test"))

    # private data: files the base model never saw (its held-out split), truncated to 2k chars
    root = default_corpus_dir()
    held = [r for r in list_source_files(root) if is_heldout(r, TinyModelConfig.preset("test").heldout_per_mille)]
    rows = []
    for rel in held[: args.files]:
        try:
            text = (root / rel).read_text(encoding="utf-8")[:2000]
        except (OSError, UnicodeDecodeError):
            continue
        rows.append({"id": rel, "repo": "stdlib", "path": rel, "content": text})
    cset = build_canaries(per_count=args.canaries, n_references=args.references, seed=7)
    full_rows = rows + canary_records(cset)
    _write_corpus(work / "private.jsonl", full_rows)
    seen: set[str] = set()
    dedup_rows = [r for r in full_rows if not (r["content"] in seen or seen.add(r["content"]))]
    _write_corpus(work / "private_dedup.jsonl", dedup_rows)
    print(
        f"corpus: {len(full_rows)} records ({len(dedup_rows)} after exact dedup), "
        f"{len(cset.inserted)} canaries, {len(cset.references)} references",
        flush=True,
    )

    runs = [
        ("no DP", "private", None),
        ("DP eps=8", "private", 8.0),
        ("DP eps=3", "private", 3.0),
        ("no DP, dedup", "private_dedup", None),
        ("DP eps=8, dedup", "private_dedup", 8.0),
    ]
    if args.runs != "all":
        wanted = {label.strip() for label in args.runs.split(",")}
        unknown = wanted - {label for label, _, _ in runs}
        if unknown:
            parser.error(f"unknown --runs {sorted(unknown)}; choose from {[label for label, _, _ in runs]}")
        runs = [r for r in runs if r[0] in wanted]
    texts = [r["content"] for r in rows]
    started, cpu_started = time.perf_counter(), time.process_time()
    results = [("base", run_audit(str(base), cset, texts, max_samples=args.samples))]
    for label, corpus, eps in runs:
        run_started, run_cpu = time.perf_counter(), time.process_time()
        out = work / label.replace(" ", "_").replace(",", "").replace("=", "")
        cfg = DPTrainConfig(
            model_dir=str(base),
            data_paths=(str(work / f"{corpus}.jsonl"),),
            output_dir=str(out),
            enable_dp=eps is not None,
            target_epsilon=eps or 8.0,
            epochs=args.epochs,
            batch_size=16,
            physical_batch_size=16,
            seq_len=128,
            learning_rate=args.lr,
            finetune=args.finetune,
            lora_rank=16,
            lora_alpha=32,
            num_threads=args.threads,
            eval_interval=10_000,
            checkpoint_interval=10_000,
        )
        report = run_dp_training(cfg)
        audit = run_audit(str(out), cset, texts, max_samples=args.samples)
        audit["epsilon"] = report["epsilon"]
        audit["final_train_loss"] = report["final_train_loss"]
        results.append((label, audit))
        exposure = {c: round(v, 2) for c, v in audit["exposure_mean"].items()}
        print(
            f"{label}: epsilon={report['epsilon']} steps={report['steps']} exposure={exposure} "
            f"extraction={audit['extraction_rate']:.3f} ({time.perf_counter() - run_started:.0f} s wall, "
            f"{time.process_time() - run_cpu:.0f} s CPU)",
            flush=True,
        )
    footer = (
        f"Command: `{shlex.join(['.venv/bin/python', *sys.argv])}`; {len(full_rows)} training records, "
        f"{time.perf_counter() - started:.0f} s wall, {time.process_time() - cpu_started:.0f} s CPU, "
        f"load average at the end {os.getloadavg()[0]:.2f}.\n"
    )
    table = render_markdown(results) + "\n" + footer
    (work / "dp_memorization.md").write_text(table)
    (work / "dp_memorization.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(table)


if __name__ == "__main__":
    main()
