"""Counter-based random numbers for the batched simulator.

Every sub-environment owns a 64-bit key. A random draw is a pure function of
(key, counter, stream, element index), computed by the SplitMix64 finaliser,
so sub-environment ``b`` of a batch of any size draws exactly the numbers a
single environment with the same key draws. This is what makes the batched
and the single env produce identical trajectories (see ``tests/test_vector``)
without a Python loop over sub-environments.

Streams are small integers naming the draw site (see :class:`Stream`); the
counter is the slot index, so a site never reuses numbers within an episode.
"""

from __future__ import annotations

import enum
import math

import numpy as np
from numba import njit

_GOLDEN_INT, _M1_INT, _M2_INT = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_MASK64 = (1 << 64) - 1
_GOLDEN, _M1, _M2 = np.uint64(_GOLDEN_INT), np.uint64(_M1_INT), np.uint64(_M2_INT)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_INV53 = 1.0 / float(1 << 53)
_S24, _INV40 = np.uint64(24), 1.0 / float(1 << 40)


class Stream(enum.IntEnum):
    """Draw sites. Adding a site means adding a member; never renumber."""

    EPISODE = 1
    INIT_POSITION = 2
    INIT_SHADOWING = 3
    INIT_FADING = 4
    INIT_MOBILITY = 5
    MOBILITY = 10
    SHADOWING = 11
    FADING = 12
    ARRIVAL_COUNT = 20
    ARRIVAL_ORDER = 21
    ARRIVAL_STATE = 22
    REQUEST_FIELDS = 23
    ARRIVAL_INIT = 24
    ARRIVAL_GROUP = 25
    ARRIVAL_LEVEL = 26


def _mix_inplace(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser of a uint64 array, in place (integer arrays wrap silently)."""
    z += _GOLDEN
    z ^= z >> _S30
    z *= _M1
    z ^= z >> _S27
    z *= _M2
    z ^= z >> _S31
    return z


def _mix_int(z: int) -> int:
    """SplitMix64 finaliser of one Python int (bit-identical to :func:`mix64`)."""
    z = (z + _GOLDEN_INT) & _MASK64
    z = ((z ^ (z >> 30)) * _M1_INT) & _MASK64
    z = ((z ^ (z >> 27)) * _M2_INT) & _MASK64
    return z ^ (z >> 31)


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser over a uint64 array (wrapping arithmetic)."""
    return _mix_inplace(np.array(x, dtype=np.uint64))


def seed_to_key(seed: int) -> np.uint64:
    """Turn a user seed (any non-negative int) into a well-mixed 64-bit key."""
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.uint64(mix64(np.array([seed % (1 << 64)], dtype=np.uint64))[0])


def episode_key(base_key: np.ndarray, episode: np.ndarray) -> np.ndarray:
    """Key of episode ``episode`` (0, 1, ...) of an env whose seed gave ``base_key``."""
    base = np.asarray(base_key, dtype=np.uint64)
    ep = np.asarray(episode, dtype=np.uint64)
    return mix64(mix64(base + _stream_offset(Stream.EPISODE)) ^ ep)


def _stream_offset(stream: int) -> np.uint64:
    return np.uint64((int(stream) * _GOLDEN_INT) & _MASK64)


_SMALL_BATCH = 4  # below this many keys, per-key heads are cheaper in Python ints
_ELEMENT_OFFSETS: dict[int, np.ndarray] = {}


def _element_offsets(n: int) -> np.ndarray:
    """``arange(n) * golden`` (uint64, wrapping), cached per n."""
    idx = _ELEMENT_OFFSETS.get(n)
    if idx is None:
        idx = np.arange(n, dtype=np.uint64) * _GOLDEN
        idx.flags.writeable = False
        _ELEMENT_OFFSETS[n] = idx
    return idx


def _heads(key: np.ndarray, counter: np.ndarray, stream: int) -> np.ndarray:
    """(B,) per-sub-env heads ``mix64(mix64(key + stream * golden) ^ counter)``."""
    key = np.asarray(key, dtype=np.uint64)
    if key.shape[0] <= _SMALL_BATCH:
        off = (int(stream) * _GOLDEN_INT) & _MASK64
        ctr = np.asarray(counter)
        ctrs = ctr.tolist() if ctr.ndim else [int(ctr)] * key.shape[0]
        heads = [
            _mix_int(_mix_int((k + off) & _MASK64) ^ (c & _MASK64))
            for k, c in zip(key.tolist(), ctrs, strict=True)
        ]
        return np.array(heads, dtype=np.uint64)
    ctr = np.asarray(counter).astype(np.uint64)
    head = key + _stream_offset(stream)
    _mix_inplace(head)
    head ^= ctr
    return _mix_inplace(head)


def _to_unit(bits: np.ndarray) -> np.ndarray:
    """Top 53 bits of uint64 ``bits`` (modified) as floats in the open interval (0, 1)."""
    bits >>= _S11
    u = bits.view(np.int64).astype(np.float64)  # < 2**53: exact
    u += 0.5
    u *= _INV53
    return u


def uniform(
    key: np.ndarray, counter: np.ndarray, stream: int, shape: tuple[int, ...]
) -> np.ndarray:
    """Uniform draws in the open interval (0, 1).

    Args:
        key: (B,) uint64 per-sub-env keys.
        counter: (B,) integer counters (the slot index).
        stream: the draw site, a :class:`Stream` member.
        shape: per-sub-env shape of the draw.

    Returns:
        float64 array of shape ``(B, *shape)``.
    """
    n = math.prod(shape)
    head = _heads(key, counter, stream)
    bits = head[:, None] + _element_offsets(n)[None, :]
    return _to_unit(_mix_inplace(bits)).reshape((head.shape[0], *shape))


def _angle_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """cos and sin of ``2 pi hi / 2**12`` and of ``2 pi lo / 2**24`` for hi, lo
    in [0, 4096), from Python's ``math`` (the platform libm, float64)."""
    coarse = [2.0 * math.pi * k / (1 << 12) for k in range(1 << 12)]
    fine = [2.0 * math.pi * k / (1 << 24) for k in range(1 << 12)]
    tables = tuple(
        np.array([fn(a) for a in angles])
        for angles in (coarse, fine)
        for fn in (math.cos, math.sin)
    )
    for t in tables:
        t.flags.writeable = False
    return tables  # type: ignore[return-value]


_COS_HI, _SIN_HI, _COS_LO, _SIN_LO = _angle_tables()
_S12, _LOW12 = np.uint64(12), np.uint64((1 << 12) - 1)


def normal(key: np.ndarray, counter: np.ndarray, stream: int, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal draws of shape ``(B, *shape)`` (Box-Muller).

    One 64-bit hash per pair of draws. Its top 40 bits give the radius's
    uniform, so ``|z|`` reaches 7.54 at most (the normal tail beyond has
    probability 5e-14). Its low 24 bits give the angle ``2 pi k / 2**24``,
    whose cos and sin come from two 4096-entry tables and the angle-addition
    formulas (exact to 1e-15): only table lookups, products and sums, so
    the angle does not depend on the CPU's SIMD path (float32 cos/sin
    would), and vectorised (numpy leaves float64 cos and sin to the scalar
    libm). The radius's float64 ``log`` may differ in the last bit between
    SIMD paths. The first half of the draws are ``r cos``, the second half
    ``r sin``.
    """
    n = math.prod(shape)
    half = (n + 1) // 2
    head = _heads(key, counter, stream)
    B = head.shape[0]
    bits = head[:, None] + _element_offsets(half)[None, :]
    _mix_inplace(bits)
    lo = (bits & _LOW12).view(np.int64)
    hi = ((bits >> _S12) & _LOW12).view(np.int64)
    c_hi, s_hi = np.take(_COS_HI, hi), np.take(_SIN_HI, hi)
    c_lo, s_lo = np.take(_COS_LO, lo), np.take(_SIN_LO, lo)
    bits >>= _S24
    r = bits.view(np.int64).astype(np.float64)  # < 2**40: exact
    r += 0.5
    r *= _INV40
    np.log(r, out=r)
    r *= -2.0
    np.sqrt(r, out=r)
    z = np.empty((B, 2 * half))
    cos, sin = z[:, :half], z[:, half:]
    np.multiply(c_hi, c_lo, out=cos)
    cos -= s_hi * s_lo  # cos(a + b) = cos a cos b - sin a sin b
    np.multiply(s_hi, c_lo, out=sin)
    sin += c_hi * s_lo  # sin(a + b) = sin a cos b + cos a sin b
    cos *= r
    sin *= r
    if 2 * half != n:
        z = z[:, :n]
    return z.reshape((B, *shape))


_POISSON_CDF: dict[float, np.ndarray] = {}


def _poisson_cdf(lam: float) -> np.ndarray:
    """CDF values P(X <= k) for k = 0, 1, ... up to where :func:`poisson`'s
    inversion loop stops, computed with that loop's float operations."""
    cdf = _POISSON_CDF.get(lam)
    if cdf is None:
        p = float(np.exp(-np.full(8, lam))[0])
        vals = [p]
        k = 0
        while True:
            k += 1
            p = p * lam / k
            if not (k < lam or p > 1e-18):
                break
            vals.append(vals[-1] + p)
        cdf = np.array(vals)
        cdf.flags.writeable = False
        if len(_POISSON_CDF) < 64:
            _POISSON_CDF[lam] = cdf
    return cdf


def poisson(u: np.ndarray, lam: np.ndarray | float) -> np.ndarray:
    """Poisson counts by inversion of uniforms ``u`` with means ``lam`` (same shape).

    Exact for any mean; the loop runs over count values, not over elements,
    and stops when every element is placed. A scalar mean inverts by one
    ``searchsorted`` in a cached CDF table built with the same operations.
    """
    if np.ndim(lam) == 0:
        return np.searchsorted(_poisson_cdf(float(lam)), u, side="left").astype(np.int64)
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), u.shape)
    p = np.exp(-lam)
    cdf = p.copy()
    count = np.zeros(u.shape, dtype=np.int64)
    k = 0
    active = u > cdf
    while active.any():
        k += 1
        p = p * lam / k
        cdf = cdf + p
        count += active
        # Stop where float64 can no longer raise the CDF (u within 1e-16 of 1).
        active = active & (u > cdf) & ((k < lam) | (p > 1e-18))
    return count


# ---------------------------------------------------------------- compiled twins
# Scalar versions of the draws above for the compiled (numba) kernels: the same
# hash, element for element, so a kernel's draw equals the array function's
# (tests/test_rng.py checks them bit for bit, the normal's log up to libm).

_NB_GOLDEN, _NB_M1, _NB_M2 = _GOLDEN, _M1, _M2
_NB_S11, _NB_S12, _NB_S24 = _S11, _S12, _S24
_NB_S27, _NB_S30, _NB_S31 = _S27, _S30, _S31
_NB_LOW12 = _LOW12


@njit(cache=True, inline="always")
def mix1(z: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """SplitMix64 finaliser of one uint64 (as :func:`mix64`)."""
    z = z + _NB_GOLDEN
    z = (z ^ (z >> _NB_S30)) * _NB_M1
    z = (z ^ (z >> _NB_S27)) * _NB_M2
    return z ^ (z >> _NB_S31)


@njit(cache=True, inline="always")
def head1(key: np.uint64, counter: int, stream: int) -> np.uint64:  # pragma: no cover
    """The per-(key, counter, stream) head of :func:`uniform` and :func:`normal`."""
    off = np.uint64(stream) * _NB_GOLDEN
    return mix1(mix1(key + off) ^ np.uint64(counter))


@njit(cache=True, inline="always")
def uniform1(head: np.uint64, element: int) -> float:  # pragma: no cover - compiled
    """Element ``element`` of a :func:`uniform` draw with head ``head``, in (0, 1)."""
    bits = mix1(head + np.uint64(element) * _NB_GOLDEN) >> _NB_S11
    return (np.int64(bits) + 0.5) * _INV53


@njit(cache=True, inline="always")
def normal_pair1(head: np.uint64, pair: int) -> tuple[float, float]:  # pragma: no cover
    """Pair ``pair`` of a :func:`normal` draw: (element ``pair``, element ``pair + half``)."""
    bits = mix1(head + np.uint64(pair) * _NB_GOLDEN)
    lo = np.int64(bits & _NB_LOW12)
    hi = np.int64((bits >> _NB_S12) & _NB_LOW12)
    c_hi, s_hi, c_lo, s_lo = _COS_HI[hi], _SIN_HI[hi], _COS_LO[lo], _SIN_LO[lo]
    r = (np.int64(bits >> _NB_S24) + 0.5) * _INV40
    r = np.sqrt(np.log(r) * -2.0)
    return (c_hi * c_lo - s_hi * s_lo) * r, (s_hi * c_lo + c_hi * s_lo) * r


@njit(cache=True)
def poisson1(u: float, lam: float) -> int:  # pragma: no cover - compiled
    """One Poisson count by inversion, with :func:`poisson`'s loop and float operations."""
    p = np.exp(-lam)
    cdf = p
    k = 0
    count = 0
    active = u > cdf
    while active:
        k += 1
        p = p * lam / k
        cdf = cdf + p
        count += 1
        active = (u > cdf) and ((k < lam) or (p > 1e-18))
    return count


@njit(cache=True, inline="always")
def poisson_table1(u: float, cdf: np.ndarray) -> int:  # pragma: no cover - compiled
    """``searchsorted(cdf, u, side="left")`` for a short CDF table (scalar-mean poisson)."""
    k = 0
    while k < cdf.shape[0] and cdf[k] < u:
        k += 1
    return k


def poisson_cdf(lam: float) -> np.ndarray:
    """The CDF table of :func:`poisson` for a scalar mean ``lam`` (read-only)."""
    return _poisson_cdf(float(lam))
