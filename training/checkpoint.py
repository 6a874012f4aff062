"""DP training checkpoints: weights, optimizer and the accountant's ledger, with the config that made them.

Saved through `PrivacyEngine.save_checkpoint` (which stores `privacy_accountant_state_dict`), plus the
config, the logical step, the privacy plan, the data fingerprint and the git SHA. The weights are those
of the unwrapped model (no GradSampleModule/DPDDP key prefixes), so a checkpoint written by a
`--nproc N` job (by rank 0 alone) resumes under any other number of processes. Resuming restores the
ledger or refuses: a checkpoint without accountant state, or made under another privacy plan or other
data, cannot be continued without silently restarting the epsilon count.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
# Fields that must match for a resumed run to continue the same privacy ledger.
LEDGER_FIELDS: tuple[str, ...] = (
    "target_epsilon",
    "delta",
    "privacy_unit",
    "max_grad_norm",
    "accountant",
    "epochs",
    "batch_size",
    "enable_dp",
    "finetune",
    "lora_rank",
    "lora_alpha",
    "lora_target_modules",
    "seq_len",
    "model_dir",
)


class ResumeRefusedError(RuntimeError):
    """The checkpoint cannot continue this run's privacy ledger."""


def git_sha() -> str | None:
    """The repository's HEAD commit, read from .git without running git (None outside a checkout)."""
    root = Path(__file__).resolve().parent.parent / ".git"
    try:
        head = (root / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            return (root / head[5:]).read_text().strip()
        return head
    except OSError:
        return None


def save_checkpoint(
    ckpt_dir: Path, *, engine: Any, module: torch.nn.Module, optimizer: Any, meta: dict[str, Any]
) -> Path:
    """Write checkpoint.pt atomically (tmp file + rename). `engine` None means a --no-dp run."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    final = ckpt_dir / CHECKPOINT_FILE
    tmp = ckpt_dir / f".{CHECKPOINT_FILE}.tmp-{os.getpid()}"
    payload = dict(meta, git_sha=git_sha())
    if engine is not None:
        engine.save_checkpoint(path=tmp, module=module, optimizer=optimizer, checkpoint_dict=payload)
    else:
        payload["module_state_dict"] = module.state_dict()
        payload["optimizer_state_dict"] = optimizer.state_dict()
        torch.save(payload, tmp)
    tmp.replace(final)
    logger.info("checkpoint: step %s -> %s", meta.get("step"), final)
    return final


def read_checkpoint_meta(ckpt_dir: Path) -> dict[str, Any]:
    """The checkpoint's metadata (without tensors), or ResumeRefusedError if absent."""
    path = ckpt_dir / CHECKPOINT_FILE
    if not path.is_file():
        raise ResumeRefusedError(f"--resume: no checkpoint at {path}")
    return torch.load(path, map_location="cpu", weights_only=False)


def check_resumable(saved: dict[str, Any], *, config: dict[str, Any], data_fingerprint: str) -> None:
    """Refuse to resume unless the ledger, the plan and the data are those of the saved run."""
    if saved["config"].get("enable_dp", True) and "privacy_accountant_state_dict" not in saved:
        raise ResumeRefusedError("checkpoint has no accountant state: resuming would restart epsilon at 0")
    changed = [f for f in LEDGER_FIELDS if saved["config"].get(f) != config.get(f)]
    if changed:
        raise ResumeRefusedError(
            f"checkpoint was made with different {', '.join(changed)}; "
            "resuming would not continue the same privacy ledger"
        )
    if saved.get("data_fingerprint") != data_fingerprint:
        raise ResumeRefusedError("checkpoint was made on different training data")


def load_into(ckpt_dir: Path, *, engine: Any, module: torch.nn.Module, optimizer: Any) -> dict[str, Any]:
    """Restore weights, optimizer state and (DP) the accountant's ledger; returns the metadata."""
    path = ckpt_dir / CHECKPOINT_FILE
    try:
        if engine is not None:
            return engine.load_checkpoint(path=path, module=module, optimizer=optimizer)
        saved = torch.load(path, map_location="cpu", weights_only=False)
        module.load_state_dict(saved["module_state_dict"])
        optimizer.load_state_dict(saved["optimizer_state_dict"])
    except (RuntimeError, KeyError, ValueError) as exc:  # state dicts of another model or layout
        raise ResumeRefusedError(f"checkpoint {path} does not fit this model: {exc}") from exc
    return saved


def publish_dir(staging: Path, output_dir: Path) -> None:
    """Rename a finished folder into place; an existing output is swapped out, then removed."""
    if output_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.old-", dir=output_dir.parent))
        old.rmdir()
        output_dir.rename(old)
        staging.rename(output_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(output_dir)
