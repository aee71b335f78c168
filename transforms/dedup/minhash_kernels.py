"""MinHash signatures and LSH banding.

Native mode: permutation k maps a 64-bit shingle hash h to ``(a_k·h + b_k) mod
(2^61 − 1)`` computed exactly (h is first reduced mod p; the 122-bit product is
formed from 32-bit limbs and folded with the Mersenne identity 2^61 ≡ 1). datasketch
(legacy scheme) and datatrove let ``a·h`` wrap at 2^64 before the modulo; exact
arithmetic keeps the textbook universal family. The kernel is numba because a
numpy ``outer`` over (shingles × 112) allocates per document and is ~5x slower.

datasketch mode: ``datasketch_signature`` reproduces ``datasketch.MinHash``
(same ``num_perm``, ``seed``, ``hashfunc``, ``scheme``) bit for bit, vectorized
over a batch, using datasketch's own permutation parameters.

Bands × rows come from ``datasketch.lsh._optimal_param`` when not given.

datasketch is imported where it is used, not at module level: ``datasketch.lsh``
imports scipy.integrate (~35 MB per process), and a Beam worker that signs
natively never needs it.
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numba
import numpy as np

MERSENNE_61 = np.uint64((1 << 61) - 1)
EMPTY = np.uint64((1 << 64) - 1)  # signature value of a document without shingles


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) with 1 ≤ a < p and 0 ≤ b < p, from numpy's RandomState like datatrove."""
    gen = np.random.RandomState(seed)
    a = gen.randint(1, MERSENNE_61, dtype=np.uint64, size=num_perm)
    b = gen.randint(0, MERSENNE_61, dtype=np.uint64, size=num_perm)
    return a, b


@numba.njit(inline="always")
def _mod_p(x):
    p = np.uint64((1 << 61) - 1)
    x = (x & p) + (x >> np.uint64(61))
    if x >= p:
        x -= p
    return x


@numba.njit(cache=True)
def signatures_kernel(hashes, offsets, a, b, out):
    """out[d, k] = min over document d's shingles h of (a_k·h + b_k) mod (2^61 − 1)."""
    m32 = np.uint64(0xFFFFFFFF)
    low29 = np.uint64((1 << 29) - 1)
    s32 = np.uint64(32)
    s29 = np.uint64(29)
    num_perm = a.shape[0]
    a_hi = (a >> s32).astype(np.uint32)  # 32-bit loads let LLVM use 32x32→64 vector multiplies
    a_lo = (a & m32).astype(np.uint32)
    for d in range(offsets.shape[0] - 1):
        sig = out[d]
        for k in range(num_perm):
            sig[k] = np.uint64(0xFFFFFFFFFFFFFFFF)
        for i in range(offsets[d], offsets[d + 1]):
            x = _mod_p(hashes[i])
            x_hi = x >> s32
            x_lo = x & m32
            for k in range(num_perm):
                ah = np.uint64(a_hi[k])
                al = np.uint64(a_lo[k])
                hh = ah * x_hi  # < 2^58; 2^64 ≡ 2^3
                mid = ah * x_lo + al * x_hi  # < 2^62; ·2^32
                ll = al * x_lo  # < 2^64
                s = (
                    (hh << np.uint64(3))
                    + (mid >> s29)
                    + ((mid & low29) << s32)
                    + (ll >> np.uint64(61))
                    + (ll & np.uint64((1 << 61) - 1))
                    + b[k]
                )
                s = _mod_p(s)
                sig[k] = min(sig[k], s)


def signatures(hashes: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Signatures (docs × num_perm, uint64) for concatenated shingle hashes; EMPTY rows for no shingles."""
    out = np.empty((len(offsets) - 1, len(a)), np.uint64)
    signatures_kernel(hashes, offsets, a, b, out)
    return out


def signature_reference(hashes: Iterable[int], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Same as the kernel in Python integers: the test oracle."""
    p = (1 << 61) - 1
    sig = [int(EMPTY)] * len(a)
    for h in hashes:
        x = int(h) % p
        for k in range(len(a)):
            v = (int(a[k]) * x + int(b[k])) % p
            if v < sig[k]:
                sig[k] = v
    return np.array(sig, np.uint64)


def datasketch_signatures(
    shingle_sets: Sequence[Sequence[bytes]],
    num_perm: int = 128,
    seed: int = 1,
    hashfunc: Callable | None = None,
    scheme: str = "affine32",
) -> np.ndarray:
    """Signatures equal to ``datasketch.MinHash(num_perm, seed, hashfunc=..., scheme=...)``
    after ``update_batch(shingles)``, one row per document (docs without shingles
    get datasketch's empty value). ``hashfunc`` None is datasketch's default, ``sha1_hash32``."""
    from datasketch import MinHash
    from datasketch.hashfunc import sha1_hash32

    hashfunc = hashfunc or sha1_hash32
    template = MinHash(num_perm=num_perm, seed=seed, hashfunc=hashfunc, scheme=scheme)
    a, b = template.permutations
    out = np.empty((len(shingle_sets), num_perm), template.hashvalues.dtype)
    for i, shingles in enumerate(shingle_sets):
        hv = [hashfunc(s) for s in shingles]
        if not hv:
            out[i] = template.hashvalues
            continue
        if scheme == "legacy":
            h = np.array(hv, dtype=np.uint64).reshape(-1, 1)
            phv = np.bitwise_and((h * a + b) % MERSENNE_61, np.uint64(0xFFFFFFFF))
        else:
            from datasketch.minhash import _SCHEME_DTYPES, _SCHEME_WIDTHS, _fmix

            h = np.array(hv, dtype=_SCHEME_DTYPES[scheme]).reshape(-1, 1)
            phv = _fmix(h, _SCHEME_WIDTHS[scheme]) * a + b
        out[i] = np.minimum(template.hashvalues, phv.min(axis=0))
    return out


def choose_bands(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimizing the weighted FP+FN area, datasketch's routine."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, fp_weight, fn_weight)


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """P(two documents with this Jaccard share at least one band)."""
    return 1.0 - (1.0 - jaccard**rows) ** bands


def fp_fn_areas(threshold: float, bands: int, rows: int) -> tuple[float, float]:
    """datasketch's integrated false-positive / false-negative probabilities."""
    from datasketch.lsh import _false_negative_probability, _false_positive_probability

    return (
        _false_positive_probability(threshold, bands, rows),
        _false_negative_probability(threshold, bands, rows),
    )


@numba.njit(inline="always")
def _mix64(x):
    """splitmix64's finalizer: a bijection on 64 bits that spreads every input bit."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


@numba.njit(cache=True)
def _band_hashes_kernel(sigs, bands, rows, out):
    for i in range(sigs.shape[0]):
        for band in range(bands):
            h = _mix64(np.uint64(band) + np.uint64(0x9E3779B97F4A7C15))
            for r in range(rows):
                h = _mix64(h ^ sigs[i, band * rows + r])
            out[i, band] = h


def band_hashes(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(documents × bands) 64-bit hashes of each band's rows: the LSH bucket keys of a batch, in one
    numba pass (per document and band in Python, hashing cost more than the signatures)."""
    sigs = np.ascontiguousarray(sigs, dtype=np.uint64)
    out = np.empty((sigs.shape[0], bands), dtype=np.uint64)
    _band_hashes_kernel(sigs, bands, rows, out)
    return out


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[tuple[int, int]]:
    """(band index, 64-bit hash of the band's rows): the LSH bucket keys of one document."""
    return [(band, int(h)) for band, h in enumerate(band_hashes(signature[None, : bands * rows], bands, rows)[0])]


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    return float(np.count_nonzero(sig_a == sig_b)) / len(sig_a)
