"""Fill-in-the-middle sample construction (pure): character-level PSM transform and windows.

Follows Bavarian et al. 2022, "Efficient Training of Language Models to Fill in the Middle", as used
for StarCoder: split a document at two uniformly random character positions into
(prefix, middle, suffix) and train on `<fim_prefix>prefix<fim_suffix>suffix<fim_middle>middle<eot>`.
"""

from __future__ import annotations

import numpy as np

from training.config import EOT_TOKEN, FIM_MIDDLE_TOKEN, FIM_PREFIX_TOKEN, FIM_SUFFIX_TOKEN


def render_psm(prefix: str, middle: str, suffix: str) -> str:
    """The PSM (prefix-suffix-middle) training string, StarCoder token names."""
    return f"{FIM_PREFIX_TOKEN}{prefix}{FIM_SUFFIX_TOKEN}{suffix}{FIM_MIDDLE_TOKEN}{middle}{EOT_TOKEN}"


def split_fim(text: str, rng: np.random.Generator) -> tuple[str, str, str]:
    """Split text at two uniform character positions into (prefix, middle, suffix)."""
    lo, hi = sorted(int(b) for b in rng.integers(0, len(text) + 1, size=2))
    return text[:lo], text[lo:hi], text[hi:]


def sample_window(
    texts: list[str] | tuple[str, ...], weights: np.ndarray, *, window_chars: int, rng: np.random.Generator
) -> tuple[str, bool]:
    """A random character window of a random document (chosen in proportion to `weights`).

    Returns the window and whether it reaches the end of its document (then an end-of-text token
    belongs after it).
    """
    doc = texts[int(rng.choice(len(texts), p=weights))]
    if len(doc) <= window_chars:
        return doc, True
    start = int(rng.integers(0, len(doc) - window_chars + 1))
    return doc[start : start + window_chars], start + window_chars == len(doc)


def build_training_text(window: str, *, at_doc_end: bool, fim_rate: float, rng: np.random.Generator) -> str:
    """One training sample as text: PSM-transformed with probability fim_rate, else left-to-right."""
    if rng.random() < fim_rate:
        return render_psm(*split_fim(window, rng))
    return window + EOT_TOKEN if at_doc_end else window
