"""The model side of DP fine-tuning: load the base, apply LoRA or unfreeze, and refuse the known traps.

Traps (each raises `DPTrapError` with what to change):
- trainable position embeddings or embeddings tied to the output layer (one tensor used at two
  places: per-sample gradient norms are computed per use, so clipping is wrong);
- gradient checkpointing (recomputed forwards fire opacus' hooks twice);
- no trainable parameter, or LoRA weights that never move (checked after training).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from training.config import DPTrainConfig

logger = logging.getLogger(__name__)

# Parameter-name fragments of learned absolute position embeddings (GPT-2 `wpe`, OPT/BART
# `embed_positions`, BERT-style `position_embeddings`). Llama uses RoPE and has none.
POSITION_EMBEDDING_NAMES: tuple[str, ...] = ("wpe", "position_embeddings", "embed_positions")
# Norm layers stay frozen in LoRA and full modes: their per-sample gradients buy little and
# RMSNorm has no opacus grad sampler.
_NORM_NAME_FRAGMENTS: tuple[str, ...] = ("norm", "ln_")


class DPTrapError(ValueError):
    """A configuration that would silently break the DP guarantee or the training itself."""


def load_base_model(model_dir: str) -> nn.Module:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.config.use_cache = False
    return model


def apply_finetune_mode(model: nn.Module, cfg: DPTrainConfig) -> nn.Module:
    """LoRA adapters (peft) on cfg.lora_target_modules, everything else frozen; or full fine-tuning
    with embeddings and norms frozen."""
    check_no_gradient_checkpointing(model)
    if cfg.finetune == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=cfg.lora_rank,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=0.0,
            bias="none",
            target_modules=list(cfg.lora_target_modules),
        )
        model = get_peft_model(model, lora)  # freezes every base weight
    else:
        for name, param in model.named_parameters():
            frozen = "embed" in name or any(f in name.lower() for f in _NORM_NAME_FRAGMENTS)
            param.requires_grad_(not frozen)
    check_trainable_parameters(model)
    return model


def check_no_gradient_checkpointing(model: nn.Module) -> None:
    if getattr(model, "is_gradient_checkpointing", False):
        raise DPTrapError(
            "gradient checkpointing is on: opacus' per-sample hooks would run twice per "
            "layer; call model.gradient_checkpointing_disable() (use a smaller "
            "--physical-batch-size to save memory instead)"
        )


def check_trainable_parameters(model: nn.Module) -> None:
    """Refuse trainable position embeddings, trainable tied embeddings, and nothing trainable."""
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    if not trainable:
        raise DPTrapError("no trainable parameter: nothing would be learnt")
    for name in trainable:
        if any(fragment in name for fragment in POSITION_EMBEDDING_NAMES):
            raise DPTrapError(
                f"trainable position embedding {name!r}: freeze it (LoRA does) — its "
                "gradient mixes every position of a sample in one shared table"
            )
    get_inputs, get_outputs = (getattr(model, f"get_{side}_embeddings", None) for side in ("input", "output"))
    inputs = get_inputs() if get_inputs is not None else None
    outputs = get_outputs() if get_outputs is not None else None
    if inputs is not None and outputs is not None and inputs.weight is outputs.weight and inputs.weight.requires_grad:
        raise DPTrapError(
            "input and output embeddings are tied and trainable: one tensor is used "
            "twice per forward, so per-sample gradient clipping is wrong; untie them "
            "(tie_word_embeddings=False) or freeze the embeddings"
        )


def snapshot_lora(model: nn.Module) -> dict[str, torch.Tensor]:
    """CPU copies of every LoRA B matrix (initialised to zero by peft, so any update moves them)."""
    return {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if "lora_B" in n}


def check_lora_moved(before: dict[str, torch.Tensor], model: nn.Module) -> float:
    """Max |change| of the LoRA B weights; raises if they did not move at all."""
    if not before:
        return 0.0
    params = dict(model.named_parameters())
    moved = max(float((params[n].detach().cpu() - w.cpu()).abs().max()) for n, w in before.items())
    if moved == 0.0:
        raise DPTrapError(
            "LoRA weights never moved: the optimizer does not update the adapters "
            "(check that they are trainable and that gradients reach them)"
        )
    return moved


def count_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def merge_for_serving(model: nn.Module) -> nn.Module:
    """The plain base architecture with LoRA merged into its weights (what vLLM loads)."""
    merge = getattr(model, "merge_and_unload", None)
    if merge is not None:
        model = merge()
    config: Any = model.config  # a transformers PretrainedConfig (torch types Module attributes as Tensor)
    config.use_cache = True
    return model
