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

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_INV53 = 1.0 / float(1 << 53)


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


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser over a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        return z ^ (z >> _S31)


def seed_to_key(seed: int) -> np.uint64:
    """Turn a user seed (any non-negative int) into a well-mixed 64-bit key."""
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.uint64(mix64(np.array([seed % (1 << 64)], dtype=np.uint64))[0])


def episode_key(base_key: np.ndarray, episode: np.ndarray) -> np.ndarray:
    """Key of episode ``episode`` (0, 1, ...) of an env whose seed gave ``base_key``."""
    base = np.asarray(base_key, dtype=np.uint64)
    ep = np.asarray(episode, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return mix64(mix64(base + np.uint64(Stream.EPISODE) * _GOLDEN) ^ ep)


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
    key = np.asarray(key, dtype=np.uint64)
    ctr = np.asarray(counter).astype(np.uint64)
    n = int(np.prod(shape)) if shape else 1
    with np.errstate(over="ignore"):
        head = mix64(mix64(key + np.uint64(int(stream)) * _GOLDEN) ^ ctr)
        idx = np.arange(n, dtype=np.uint64) * _GOLDEN
        bits = mix64(head[:, None] + idx[None, :])
    u = ((bits >> _S11).astype(np.float64) + 0.5) * _INV53
    return u.reshape((key.shape[0], *shape))


def normal(key: np.ndarray, counter: np.ndarray, stream: int, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal draws of shape ``(B, *shape)`` (Box-Muller)."""
    n = int(np.prod(shape)) if shape else 1
    half = (n + 1) // 2
    u = uniform(key, counter, stream, (2, half))
    r = np.sqrt(-2.0 * np.log(u[:, 0]))
    theta = 2.0 * np.pi * u[:, 1]
    z = np.concatenate([r * np.cos(theta), r * np.sin(theta)], axis=1)[:, :n]
    return z.reshape((u.shape[0], *shape))


def poisson(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson counts by inversion of uniforms ``u`` with means ``lam`` (same shape).

    Exact for any mean; the loop runs over count values, not over elements,
    and stops when every element is placed.
    """
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
