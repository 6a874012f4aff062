"""Signatures equal datasketch's MinHash values; band keys; similarity tolerance."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from codesieve.core.minhash import (
    band_keys,
    build_hasher,
    datasketch_hashfunc,
    hash_shingles,
    shingle_hashes_from_tokens,
    signature,
    signature_from_hashes,
)
from codesieve.core.shingling import SHINGLE_SEPARATOR, code_tokens, shingles
from dedup.config import MinhashConfig

CODE = '''
def moving_average(values, window):
    """Average of each window of `values`."""
    total = sum(values[:window])
    out = [total / window]
    for i in range(window, len(values)):
        total += values[i] - values[i - window]
        out.append(total / window)
    return out
'''


def _datasketch(shingle_bytes: list[bytes], cfg: MinhashConfig) -> np.ndarray:
    mh = MinHash(num_perm=cfg.num_perm, seed=cfg.seed, hashfunc=datasketch_hashfunc(cfg.hash_fn))
    for s in shingle_bytes:
        mh.update(s)
    return mh.hashvalues


@pytest.mark.parametrize("hash_fn", ["sha1_32", "xxh32"])
@pytest.mark.parametrize("seed", [1, 42])
def test_signature_equals_datasketch_on_code(hash_fn: str, seed: int) -> None:
    cfg = MinhashConfig(hash_fn=hash_fn, seed=seed)  # type: ignore[arg-type]
    shingle_bytes = [s.encode() for s in shingles(code_tokens(CODE), 5)]
    ours = signature(shingle_bytes, build_hasher(cfg))
    assert ours.dtype == np.uint32 and ours.shape == (256,)
    np.testing.assert_array_equal(ours, _datasketch(shingle_bytes, cfg))


def test_default_datasketch_minhash_is_the_reference() -> None:
    """No hashfunc given: datasketch's own default (sha1_hash32, affine32) is what we match."""
    shingle_bytes = [s.encode() for s in shingles(code_tokens(CODE), 5)]
    mh = MinHash(num_perm=256, seed=1)
    mh.update_batch(shingle_bytes)
    np.testing.assert_array_equal(signature(shingle_bytes, build_hasher(MinhashConfig())), mh.hashvalues)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=20), min_size=0, max_size=600))
def test_signature_equals_datasketch_on_any_set(values: list[bytes]) -> None:
    """Property: any shingle list (repeats, empty, >512 rows to cross a block) matches."""
    cfg = MinhashConfig(num_perm=64, bands=8, rows=8)
    np.testing.assert_array_equal(signature(values, build_hasher(cfg)), _datasketch(values, cfg))


def test_str_shingles_are_utf8_encoded_like_bytes() -> None:
    hasher = build_hasher(MinhashConfig())
    text = ["naïve\x1fcafé", "ß\x1f∑"]
    np.testing.assert_array_equal(signature(text, hasher), signature([t.encode() for t in text], hasher))


def test_empty_set_gives_the_all_max_signature() -> None:
    sig = signature_from_hashes(np.empty(0, np.uint32), build_hasher(MinhashConfig()))
    assert (sig == np.uint32(0xFFFFFFFF)).all()


def test_hash_shingles_golden_sha1() -> None:
    # sha1(b"abc") = a9993e36...; first 4 bytes little-endian = 0x363e99a9
    assert hash_shingles([b"abc"], "sha1_32").tolist() == [0x363E99A9]


def test_band_keys_agree_exactly_on_equal_bands() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**32, 256, dtype=np.uint64).astype(np.uint32)
    b = a.copy()
    b[15] ^= 1  # band 1 (rows 10..19) differs
    ka, kb = band_keys(a, 25, 10), band_keys(b, 25, 10)
    assert ka.dtype == np.uint64 and ka.shape == (25,)
    assert ka[1] != kb[1]
    assert (ka[[0, *range(2, 25)]] == kb[[0, *range(2, 25)]]).all()


def test_signature_similarity_estimates_jaccard() -> None:
    """Tolerance test (datatrove style): agreement rate within 0.08 of the true Jaccard."""
    hasher = build_hasher(MinhashConfig())
    base = [f"shingle-{i}".encode() for i in range(1000)]
    for overlap in (200, 500, 800):
        other = base[:overlap] + [f"other-{i}".encode() for i in range(1000 - overlap)]
        jaccard = overlap / (2000 - overlap)
        estimate = float(np.mean(signature(base, hasher) == signature(other, hasher)))
        assert abs(estimate - jaccard) < 0.08, (overlap, estimate, jaccard)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=1200))
def test_numba_and_numpy_backends_agree(values: list[int]) -> None:
    hasher = build_hasher(MinhashConfig())
    hashes = np.array(values, dtype=np.uint32)
    np.testing.assert_array_equal(
        signature_from_hashes(hashes, hasher, backend="numba"),
        signature_from_hashes(hashes, hasher, backend="numpy"),
    )


_LEXEMES = st.lists(
    st.text(alphabet=st.sampled_from(list("abcXYZ_09(){}.:=+\u00e9\u4e2d\U0001f600")), min_size=1, max_size=25),
    min_size=0,
    max_size=120,
)


@pytest.mark.parametrize("hash_fn", ["sha1_32", "xxh32"])
@settings(max_examples=60, deadline=None)
@given(tokens=_LEXEMES, ngram=st.integers(1, 6))
def test_token_path_hashes_equal_hashing_shingling_output(hash_fn: str, tokens: list[str], ngram: int) -> None:
    """The compiled slice hashers give hash_shingles' values for codesieve.core.shingling's shingles."""
    expected = hash_shingles([s.encode() for s in shingles(tokens, ngram)], hash_fn)
    np.testing.assert_array_equal(shingle_hashes_from_tokens(tokens, ngram, hash_fn), expected)


def test_token_path_handles_long_shingles_across_sha1_blocks() -> None:
    """Shingles of 55..130 bytes cross SHA-1's one-block padding limit and XXH32's 16-byte stripes."""
    tokens = ["x" * n for n in range(8, 30)]
    for hash_fn in ("sha1_32", "xxh32"):
        expected = hash_shingles([s.encode() for s in shingles(tokens, 5)], hash_fn)
        np.testing.assert_array_equal(shingle_hashes_from_tokens(tokens, 5, hash_fn), expected)


def test_separator_matches_dedup_shingling() -> None:
    assert list(shingles(["a", "b"], 2)) == [SHINGLE_SEPARATOR.join(["a", "b"])]
    # the token path finds lexeme boundaries by the separator byte: no lexeme may contain it
    assert code_tokens(f"a{SHINGLE_SEPARATOR}b {SHINGLE_SEPARATOR}") == ["a", "b"]


@pytest.mark.parametrize("seed", [0, 1, 42, 2**31])
@pytest.mark.parametrize("num_perm", [1, 128, 256, 1024])
def test_permutations_are_datasketchs(seed: int, num_perm: int) -> None:
    """build_hasher draws (a, b) itself (no datasketch import); they must be datasketch's."""
    hasher = build_hasher(MinhashConfig(num_perm=num_perm, seed=seed, bands=1, rows=1))
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    np.testing.assert_array_equal(hasher.a, a)
    np.testing.assert_array_equal(hasher.b, b)
    assert hasher.a.dtype == hasher.b.dtype == np.uint32


def test_compiled_sha1_equals_hashlib_across_lane_groups() -> None:
    """0..130-byte messages in mixed order: one-block ones go 32 at a time through the multi-lane
    kernel (a partial last group included), the rest one at a time; all must equal hashlib."""
    from codesieve.core._shingle_hash_kernels import sha1_32_slices

    rng = np.random.default_rng(3)
    lengths = rng.integers(0, 131, size=1000)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    data = rng.integers(0, 256, size=int(ends[-1]), dtype=np.uint8)
    out = np.empty(lengths.size, dtype=np.uint32)
    sha1_32_slices(data, starts, ends, out)
    expected = hash_shingles([data[s:e].tobytes() for s, e in zip(starts, ends, strict=True)], "sha1_32")
    np.testing.assert_array_equal(out, expected)
