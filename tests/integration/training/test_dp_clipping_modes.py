"""Opacus on a tiny random Llama with peft LoRA: ghost clipping equals per-sample clipping at zero
noise, an empty Poisson batch is still a (noise-only, accounted) step, and the traps are refused."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from factories import micro_llama
from training.config import DPTrainConfig
from training.model import DPTrapError, apply_finetune_mode, check_lora_moved, check_trainable_parameters, snapshot_lora
from training.train import backward_step, ledger_steps, make_private, noise_only_grads

VOCAB, SEQ = 96, 12
# The same checks on a GPU (opacus' CUDA kernels, noise drawn on the device): `pytest -m gpu`.
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def _tiny_llama(tied: bool = False) -> torch.nn.Module:
    model = micro_llama(VOCAB, tied=tied)
    model.config.use_cache = False
    return model


def _batch(device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    inputs = torch.randint(0, VOCAB, (6, SEQ), generator=g)
    targets = torch.randint(0, VOCAB, (6, SEQ), generator=g)
    targets[0, 7:] = -100  # padded tail: excluded from the per-sequence mean in both modes
    return inputs.to(device), targets.to(device)


def _private(mode: str, noise: float, cfg: DPTrainConfig, device: str = "cpu"):
    import opacus

    model = apply_finetune_mode(_tiny_llama(), cfg)
    # LoRA B starts at zero (peft); make it non-zero so every adapter weight gets a gradient.
    with torch.no_grad():
        for i, (name, p) in enumerate(model.named_parameters()):
            if "lora_B" in name:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(i))
    model = model.to(device)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    inputs, targets = _batch()
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=6)
    engine = opacus.PrivacyEngine(accountant="prv")
    return (
        *make_private(engine, model=model, optimizer=opt, loader=loader, cfg=cfg, mode=mode, noise_multiplier=noise),
        engine,
    )


CFG = DPTrainConfig(max_grad_norm=0.05, lora_rank=4, lora_alpha=8, batch_size=6)  # small C: clipping is active


@pytest.mark.parametrize("device", DEVICES)
def test_ghost_and_per_sample_clipping_give_the_same_update_at_zero_noise(device: str) -> None:
    updates = {}
    for mode in ("ghost", "hooks"):
        model, opt, criterion, _, _ = _private(mode, 0.0, CFG, device)
        before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        backward_step(model, criterion, *_batch(device))
        opt.step()
        updates[mode] = {n: (p.detach() - before[n]) for n, p in model.named_parameters() if p.requires_grad}
    assert updates["ghost"].keys() == updates["hooks"].keys() and len(updates["ghost"]) > 0
    total = sum(float(u.norm()) for u in updates["hooks"].values())
    assert total > 0
    for name, u in updates["ghost"].items():
        torch.testing.assert_close(u, updates["hooks"][name], rtol=1e-4, atol=1e-6, msg=name)


def test_clipping_bounds_each_units_contribution() -> None:
    # With C tiny, the (noise-free, mean-reduced) update has norm <= lr * C: clipping really happens.
    model, opt, criterion, _, _ = _private("ghost", 0.0, CFG)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    backward_step(model, criterion, *_batch())
    opt.step()
    sq = sum(float((p.detach() - before[n]).pow(2).sum()) for n, p in model.named_parameters() if p.requires_grad)
    assert 0 < sq**0.5 <= CFG.max_grad_norm * (1 + 1e-4)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ["ghost", "hooks"])
def test_empty_poisson_batch_is_a_noise_only_accounted_step(mode: str, device: str) -> None:
    model, opt, _, _, engine = _private(mode, 1.0, CFG, device)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    noise_only_grads(opt, mode)
    opt.step()
    assert ledger_steps(engine) == 1  # the accountant counted it
    moved = sum(float((p.detach() - before[n]).abs().sum()) for n, p in model.named_parameters() if p.requires_grad)
    assert moved > 0  # noise was added


def test_trap_tied_trainable_embeddings() -> None:
    with pytest.raises(DPTrapError, match="tied"):
        check_trainable_parameters(_tiny_llama(tied=True))  # everything trainable, embeddings tied
    # LoRA freezes the embeddings, so a tied base model is fine there
    apply_finetune_mode(_tiny_llama(tied=True), dataclasses.replace(CFG, finetune="lora"))


def test_trap_trainable_position_embeddings() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(
        GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=1, n_head=2, n_positions=32, tie_word_embeddings=False)
    )
    with pytest.raises(DPTrapError, match="position embedding"):
        apply_finetune_mode(gpt2, dataclasses.replace(CFG, finetune="full"))


def test_trap_gradient_checkpointing() -> None:
    model = _tiny_llama()
    model.gradient_checkpointing_enable()
    with pytest.raises(DPTrapError, match="gradient checkpointing"):
        apply_finetune_mode(model, CFG)


def test_trap_lora_weights_that_never_move() -> None:
    model = apply_finetune_mode(_tiny_llama(), CFG)
    snap = snapshot_lora(model)
    assert snap, "peft put no LoRA B matrices on the attention projections"
    with pytest.raises(DPTrapError, match="never moved"):
        check_lora_moved(snap, model)
