"""Byte-level BPE tokenizer of the local model: train with `tokenizers`, wrap as a Hugging Face tokenizer.

Byte-level (GPT-2 pre-tokenizer, 256-byte initial alphabet) so any UTF-8 text round-trips; the five
StarCoder special tokens are added as special tokens, so `<fim_prefix>` in a prompt is one token.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from training.config import EOT_TOKEN, FIM_PAD_TOKEN, SPECIAL_TOKENS

logger = logging.getLogger(__name__)


def train_bpe(texts: Sequence[str], *, vocab_size: int, min_frequency: int, max_chars: int) -> Tokenizer:
    """Learn BPE merges from the first `max_chars` characters of texts (in the given order)."""
    sample: list[str] = []
    total = 0
    for text in texts:
        if total >= max_chars:
            break
        sample.append(text)
        total += len(text)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),  # ids 0..4, in this order
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(sample, trainer=trainer, length=len(sample))
    logger.info("tokenizer: %d tokens learnt from %d chars", tok.get_vocab_size(), total)
    return tok


def wrap_hf(tok: Tokenizer, *, model_max_length: int) -> PreTrainedTokenizerFast:
    """The Hugging Face tokenizer that `AutoTokenizer.from_pretrained` and vLLM load back.

    No BOS is prepended anywhere (no post-processor): the model is trained on raw windows.
    """
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=EOT_TOKEN,
        eos_token=EOT_TOKEN,
        unk_token=EOT_TOKEN,
        pad_token=FIM_PAD_TOKEN,
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )
