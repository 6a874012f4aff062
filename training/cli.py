"""`codesieve train ...`: command-line front of the training jobs (parse, validate, call, report).

Heavy imports (torch, transformers, opacus) happen inside the commands so `codesieve --help` is fast.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import typer

from codesieve.cli_io import cli_error

train_app = typer.Typer(
    help="Model jobs: the small local code model, DP-SGD fine-tuning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

logger = logging.getLogger(__name__)


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@train_app.command("tiny-model")
def tiny_model(
    output: Path = typer.Option(..., "--output", help="Hugging Face model folder to write (replaced atomically)."),
    preset: str = typer.Option("default", "--preset", help="default (~5 min on 2 CPU cores) | test (~20 s)."),
    corpus: Path | None = typer.Option(None, "--corpus", help="Tree of *.py files [default: Python's stdlib]."),
    seed: int | None = typer.Option(None, "--seed", help="Override the preset's seed."),
) -> None:
    """Train the local code model (byte-level BPE + FIM tokens, small Llama) into OUTPUT."""
    from codesieve.cli_io import OutputError, probe_output_parent
    from training.config import TinyModelConfig

    try:
        cfg = TinyModelConfig.preset(preset)
    except ValueError as exc:
        raise cli_error(str(exc)) from None
    if seed is not None:
        cfg = dataclasses.replace(cfg, seed=seed)
    if corpus is not None and not corpus.is_dir():
        raise cli_error(f"--corpus {corpus} is not a directory")
    if output.exists() and not output.is_dir():
        raise cli_error(f"--output {output} exists and is not a directory")
    try:  # before training: the model is written beside OUTPUT, then renamed into place
        probe_output_parent(output)
    except OutputError as exc:
        raise cli_error(str(exc)) from None

    _setup_logging()
    from training.tiny_model import build_tiny_model

    try:
        path = build_tiny_model(output, cfg, corpus_dir=corpus)
    except ValueError as exc:
        raise cli_error(str(exc)) from None
    typer.echo(str(path))


@train_app.command("dp")
def dp(
    model: Path = typer.Option(..., "--model", help="Base Hugging Face model folder."),
    data: list[Path] = typer.Option(..., "--data", help="CodeRecord files or folders (.jsonl/.jsonl.gz/.parquet)."),
    output: Path = typer.Option(..., "--output", help="Merged model folder + privacy_report.json to write."),
    epsilon: float = typer.Option(8.0, "--epsilon", help="Target epsilon; training stops before exceeding it."),
    delta: str = typer.Option("auto", "--delta", help="'auto' = N^-1.1 for N privacy units, or a number."),
    lora_rank: int = typer.Option(8, "--lora-rank"),
    full: bool = typer.Option(False, "--full", help="Full fine-tuning (embeddings and norms frozen) instead of LoRA."),
    max_grad_norm: float = typer.Option(1.0, "--max-grad-norm", help="Per-unit clip norm C."),
    epochs: int = typer.Option(3, "--epochs"),
    batch_size: int = typer.Option(16, "--batch-size", help="Expected logical batch (q = B / N)."),
    physical_batch_size: int = typer.Option(8, "--physical-batch-size", help="Memory bound per forward pass."),
    privacy_unit: str = typer.Option("record", "--privacy-unit", help="record | repo"),
    seq_len: int = typer.Option(128, "--seq-len"),
    learning_rate: float = typer.Option(2e-3, "--lr"),
    grad_sample_mode: str = typer.Option("auto", "--grad-sample-mode", help="auto | ghost | hooks"),
    no_dp: bool = typer.Option(False, "--no-dp", help="Same job without clipping or noise (baseline)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the checkpoint's privacy ledger, or refuse."),
    checkpoint_dir: Path | None = typer.Option(None, "--checkpoint-dir", help="[default: OUTPUT.ckpt]"),
    secure_mode: bool = typer.Option(False, "--secure-mode", help="CSPRNG noise; use for reported runs."),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(2, "--threads", help="torch intra-op threads of the job, split over --nproc."),
    nproc: int = typer.Option(
        1,
        "--nproc",
        help="Data-parallel processes (torch DDP: gloo on CPU, NCCL one GPU each); one privacy ledger for the job.",
    ),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when visible, else CPU) | cpu | cuda | cuda:N."),
) -> None:
    """DP-SGD fine-tuning (Opacus, PRV accountant, Poisson sampling) -> merged model + privacy report."""
    from training.config import DPTrainConfig
    from training.ranks import check_nproc, resolve_device

    if not (model / "config.json").is_file():
        raise cli_error(f"--model {model} is not a Hugging Face model folder (no config.json)")
    try:
        resolved_delta = None if delta == "auto" else float(delta)
    except ValueError:
        raise cli_error(f"--delta must be 'auto' or a number, not {delta!r}") from None
    try:
        cfg = DPTrainConfig(
            model_dir=str(model),
            data_paths=tuple(str(d) for d in data),
            output_dir=str(output),
            checkpoint_dir=str(checkpoint_dir) if checkpoint_dir else None,
            resume=resume,
            enable_dp=not no_dp,
            target_epsilon=epsilon,
            delta=resolved_delta,
            privacy_unit=privacy_unit,  # type: ignore[arg-type]
            max_grad_norm=max_grad_norm,
            secure_mode=secure_mode,
            epochs=epochs,
            batch_size=batch_size,
            physical_batch_size=physical_batch_size,
            learning_rate=learning_rate,
            seq_len=seq_len,
            finetune="full" if full else "lora",
            lora_rank=lora_rank,
            lora_alpha=2 * lora_rank,
            grad_sample_mode=grad_sample_mode,  # type: ignore[arg-type]  # DPTrainConfig validates it
            seed=seed,
            num_threads=threads,  # type: ignore[arg-type]
            nproc=nproc,
            device=device,
        )
        check_nproc(nproc, device=resolve_device(device))
    except ValueError as exc:
        raise cli_error(str(exc)) from None

    _setup_logging()
    from training.checkpoint import ResumeRefusedError
    from training.distributed import launch

    try:
        report = launch(cfg)
    except (ValueError, ResumeRefusedError) as exc:  # DPTrapError is a ValueError
        raise cli_error(str(exc)) from None
    eps = report["epsilon"]
    typer.echo(f"{output}  epsilon={'none (--no-dp)' if eps is None else f'{eps:.3f}'} delta={report['delta']:.3g}")


@train_app.command("canaries")
def canaries_cmd(
    data: list[Path] = typer.Option(..., "--data", help="CodeRecord files or folders to copy."),
    output: Path = typer.Option(..., "--output", help="JSONL corpus to write: the data plus the canaries."),
    canaries: int = typer.Option(3, "--canaries", help="Canaries per insertion count (1, 4 and 16 times)."),
    references: int = typer.Option(999, "--references", help="Never-inserted reference secrets |R|-1."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Write DATA plus canary records (each inserted 1, 4 or 16 times), for `train audit`."""
    import json

    from codesieve.cli_io import probe_output_file
    from training.canaries import build_canaries, canary_records
    from training.data import load_records

    try:
        probe_output_file(output)
        records = load_records([str(d) for d in data])
    except ValueError as exc:  # OutputError is one
        raise cli_error(str(exc)) from None
    cset = build_canaries(per_count=canaries, n_references=references, seed=seed)
    tmp = output.with_name(f".{output.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(
                json.dumps(
                    {
                        "id": rec.doc_id,
                        "repo": rec.repo,
                        "path": rec.path,
                        "licence": rec.licence,
                        "language": rec.language,
                        "content": rec.content,
                    }
                )
                + "\n"
            )
        for row in canary_records(cset):
            fh.write(json.dumps(row) + "\n")
    tmp.replace(output)
    typer.echo(str(output))


@train_app.command("audit")
def audit_cmd(
    model: list[Path] = typer.Option(..., "--model", help="Model folder(s) to audit; repeat to compare."),
    data: list[Path] = typer.Option(..., "--data", help="The training corpus (with canaries)."),
    canaries: int = typer.Option(3, "--canaries", help="As given to `train canaries`."),
    references: int = typer.Option(999, "--references"),
    seed: int = typer.Option(0, "--seed", help="As given to `train canaries`."),
    samples: int = typer.Option(100, "--samples", help="Training texts tried for extraction."),
    output: Path | None = typer.Option(None, "--output", help="Write the JSON report here."),
) -> None:
    """Canary exposure and k-extractable memorization of each model; prints a Markdown table."""
    import json

    from training.audit import render_markdown, run_audit
    from training.canaries import build_canaries
    from training.data import load_records

    for m in model:
        if not (m / "config.json").is_file():
            raise cli_error(f"--model {m} is not a Hugging Face model folder (no config.json)")
    try:
        records = load_records([str(d) for d in data])
    except ValueError as exc:
        raise cli_error(str(exc)) from None
    cset = build_canaries(per_count=canaries, n_references=references, seed=seed)
    contents = [r.content for r in records]
    missing = [s for s, n in cset.inserted.items() if contents.count(cset.text(s)) != n]
    if missing:
        raise cli_error(
            f"{len(missing)} canaries are not in --data as `train canaries --canaries {canaries} "
            f"--seed {seed}` inserts them"
        )
    _setup_logging()
    texts = [c for c in contents if c not in {cset.text(s) for s in cset.inserted}]
    rows = [(str(m), run_audit(str(m), cset, texts, max_samples=samples, seed=seed)) for m in model]
    if output is not None:
        output.write_text(json.dumps([r for _, r in rows], indent=2) + "\n")
    typer.echo(render_markdown(rows))
