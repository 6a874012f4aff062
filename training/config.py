"""Frozen configs of the training jobs: every hyperparameter in one place, saved with the artifact.

`TinyModelConfig` drives `training.tiny_model` (the small local code model); `DPTrainConfig` drives
`training.train` (DP-SGD fine-tuning). Defaults are grouped and commented like nanoGPT's config block.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Literal

# The special tokens of the local model, with StarCoder's names so the gateway's "starcoder" FIM
# template renders prompts for it unchanged.
EOT_TOKEN = "<|endoftext|>"
FIM_PREFIX_TOKEN = "<fim_prefix>"
FIM_MIDDLE_TOKEN = "<fim_middle>"
FIM_SUFFIX_TOKEN = "<fim_suffix>"
FIM_PAD_TOKEN = "<fim_pad>"
SPECIAL_TOKENS: tuple[str, ...] = (
    EOT_TOKEN,
    FIM_PREFIX_TOKEN,
    FIM_MIDDLE_TOKEN,
    FIM_SUFFIX_TOKEN,
    FIM_PAD_TOKEN,
)

TinyPresetName = Literal["default", "test"]


@dataclass(frozen=True)
class TinyModelConfig:
    """Everything that decides the local code model; two builds with equal configs are identical."""

    name: str = "default"  # preset name, recorded in codesieve.json
    seed: int = 1337

    # --- corpus: *.py files, file-level train/held-out split by a hash of the relative path
    heldout_per_mille: int = 50  # 5% of the files are held out (never seen by tokenizer or model)
    max_train_chars: int = 4_000_000  # files are taken in hash order until this many characters
    max_heldout_chars: int = 400_000
    max_file_chars: int = 200_000  # a few generated tables in the stdlib are huge; skip them

    # --- tokenizer: byte-level BPE (GPT-2 pre-tokenizer) + the special tokens above
    vocab_size: int = 2048  # target; the model's embedding is padded up to a multiple of 64
    tokenizer_train_chars: int = 2_000_000  # BPE merges are learnt from the first N train chars
    bpe_min_frequency: int = 2

    # --- model: transformers.LlamaForCausalLM; head_dim = hidden_size / num_heads = 64
    # Sized by the budget: ~5 min on 2 CPU cores is ~1M training tokens at ~7k tokens/s, which a
    # ~2.5M-parameter model uses better than a deeper one.
    hidden_size: int = 256
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 640  # ~ 8/3 * hidden (SwiGLU), rounded to a multiple of 64
    max_position_embeddings: int = 1024  # RoPE, so serving longer than seq_len still works
    rope_theta: float = 10_000.0

    # --- training: AdamW on random character windows, a fraction turned into FIM (PSM) samples
    seq_len: int = 256  # tokens per training sample (the model sees seq_len-1 targets)
    batch_size: int = 8
    max_steps: int = 800  # 800 * 8 * 255 ~ 1.6M tokens
    learning_rate: float = 3e-3
    min_learning_rate: float = 3e-4  # cosine decay floor (nanoGPT: ~ learning_rate / 10)
    warmup_steps: int = 40
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    fim_rate: float = 0.5  # StarCoder trains with 0.5 FIM, all of it PSM here
    num_threads: int = 2  # torch intra-op threads; fixed, since the result depends on it

    # --- evaluation: held-out token cross-entropy vs a training-set unigram model
    eval_tokens: int = 65_536
    log_interval: int = 100

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError("hidden_size must be a multiple of num_heads")
        if not 0.0 <= self.fim_rate <= 1.0:
            raise ValueError("fim_rate must be in [0, 1]")
        if not 0 < self.heldout_per_mille < 1000:
            raise ValueError("heldout_per_mille must be in (0, 1000)")
        if self.seq_len > self.max_position_embeddings:
            raise ValueError("seq_len must not exceed max_position_embeddings")
        if self.seq_len < 2:
            raise ValueError("seq_len must be >= 2 (one input and one target token)")
        for field in ("max_steps", "batch_size", "vocab_size", "num_threads"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be >= 1")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @classmethod
    def preset(cls, name: str) -> TinyModelConfig:
        """`default`: the model behind `make serve` (~5 min on 2 CPU cores);
        `test`: the model of the test suite (trains in ~20 s, still clearly beats a unigram model).
        """
        if name == "default":
            return cls()
        if name == "test":
            return cls(
                name="test",
                max_train_chars=1_200_000,
                max_heldout_chars=120_000,
                vocab_size=1024,
                tokenizer_train_chars=600_000,
                hidden_size=128,
                num_layers=2,
                num_heads=2,
                intermediate_size=352,
                max_position_embeddings=512,
                # short windows, many steps: ~200 * 16 * 63 ~ 200k tokens in ~15 s on one core
                seq_len=64,
                batch_size=16,
                max_steps=200,
                learning_rate=4e-3,
                min_learning_rate=4e-4,
                warmup_steps=20,
                num_threads=1,
                eval_tokens=16_384,
                log_interval=50,
            )
        raise ValueError(f"unknown preset {name!r}; choose one of: default, test")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PrivacyUnit = Literal["record", "repo"]
FinetuneMode = Literal["lora", "full"]
GradSampleMode = Literal["auto", "ghost", "hooks"]

# LoRA on every attention projection of a Llama block (names from transformers' LlamaAttention).
LLAMA_ATTENTION_MODULES: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class DPTrainConfig:
    """DP-SGD fine-tuning of a Hugging Face causal LM on a private code corpus (`training.train`)."""

    # --- I/O
    model_dir: str = ""  # base Hugging Face folder (e.g. the local model)
    data_paths: tuple[str, ...] = ()  # .jsonl/.jsonl.gz/.parquet files or folders of CodeRecords
    output_dir: str = ""  # merged Hugging Face folder + privacy_report.json
    checkpoint_dir: str | None = None  # default: <output_dir>.ckpt
    resume: bool = False  # continue the privacy ledger of checkpoint_dir, or refuse

    # --- privacy (DP-SGD, Abadi et al. 2016; PRV accounting, Gopi et al. 2021)
    enable_dp: bool = True  # False: the same job without clipping/noise, as a baseline
    target_epsilon: float = 8.0
    delta: float | None = None  # None: N^-1.1 for N privacy units (below 1/N, as it must be)
    privacy_unit: PrivacyUnit = "record"  # one record (file), or all records of one repo
    max_grad_norm: float = 1.0  # per-unit L2 clip C
    accountant: str = "prv"
    poisson_sampling: bool = True  # required for the accountant's guarantee; never turned off
    secure_mode: bool = False  # opacus' CSPRNG noise; turn on for any run you will report
    epsilon_tolerance: float = 0.01  # noise is calibrated so that target - tol <= eps <= target

    # --- optimisation: one logical batch = one DP step; physical batches only bound memory
    epochs: int = 3
    batch_size: int = 16  # expected logical batch (sample rate q = batch_size / N)
    physical_batch_size: int = 8  # BatchMemoryManager's bound on what goes through the model at once
    learning_rate: float = 2e-3
    weight_decay: float = 0.0
    seq_len: int = 128  # tokens per sample (a window of the unit's token stream)

    # --- model
    finetune: FinetuneMode = "lora"
    lora_rank: int = 8
    lora_alpha: int = 16  # scale = alpha / rank (peft)
    lora_target_modules: tuple[str, ...] = LLAMA_ATTENTION_MODULES
    grad_sample_mode: GradSampleMode = "auto"  # ghost clipping when the model allows it, else hooks

    # --- run
    seed: int = 0
    num_threads: int = 2  # torch intra-op threads of the whole job, split evenly over the nproc processes
    nproc: int = 1  # data-parallel processes (training.distributed); one privacy ledger for the job
    device: str = "auto"  # auto (CUDA when visible, else CPU) | cpu | cuda | cuda:N; not part of the ledger
    eval_interval: int = 20  # logical steps between loss/epsilon log lines
    checkpoint_interval: int = 50  # logical steps between checkpoints (and one at the end)

    def __post_init__(self) -> None:
        if self.enable_dp and not self.poisson_sampling:
            raise ValueError(
                "poisson_sampling=False is not supported with DP: the PRV/RDP accountants assume Poisson subsampling"
            )
        if self.target_epsilon <= 0:
            raise ValueError("target_epsilon must be > 0")
        if self.delta is not None and not 0 < self.delta < 1:
            raise ValueError("delta must be in (0, 1)")
        if self.max_grad_norm <= 0:
            raise ValueError("max_grad_norm must be > 0")
        if self.physical_batch_size < 1 or self.batch_size < 1 or self.epochs < 1:
            raise ValueError("epochs, batch_size and physical_batch_size must be >= 1")
        if self.lora_rank < 1:
            raise ValueError("lora_rank must be >= 1")
        if self.seq_len < 2:
            raise ValueError("seq_len must be >= 2")
        if self.privacy_unit not in ("record", "repo"):
            raise ValueError("privacy_unit must be 'record' or 'repo'")
        if self.finetune not in ("lora", "full"):
            raise ValueError("finetune must be 'lora' or 'full'")
        if self.nproc < 1:
            raise ValueError(f"nproc must be >= 1, not {self.nproc}")
        if self.num_threads < 1:
            raise ValueError("num_threads must be >= 1")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, not {self.device!r}")
        if self.grad_sample_mode not in ("auto", "ghost", "hooks"):
            raise ValueError("grad_sample_mode must be 'auto', 'ghost' or 'hooks'")

    @property
    def resolved_checkpoint_dir(self) -> str:
        return self.checkpoint_dir or f"{self.output_dir.rstrip('/')}.ckpt"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
