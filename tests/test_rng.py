"""The counter-based random numbers: distributions, batch independence, and
the process-level malloc tuning that the batched dynamics rely on for speed."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from gainnet_rl.envs import _malloc, rng


def _keys(n: int) -> np.ndarray:
    return rng.mix64(np.arange(n, dtype=np.uint64))


def test_normal_draws_are_standard_normal() -> None:
    z = rng.normal(_keys(400), np.zeros(400, np.int64), rng.Stream.FADING, (2, 625)).ravel()
    assert z.size == 500_000
    assert abs(z.mean()) < 5 * 1 / np.sqrt(z.size)
    assert abs(z.var() - 1.0) < 5 * np.sqrt(2 / z.size)
    assert abs(stats.skew(z)) < 0.02 and abs(stats.kurtosis(z)) < 0.04
    # tails: P(|z| > 3) = 0.0027 (the 40-bit radius caps |z| at 7.54)
    assert (np.abs(z) > 3).mean() == pytest.approx(2 * stats.norm.sf(3), rel=0.1)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # the cos half and the sin half of each pair are uncorrelated
    pairs = rng.normal(_keys(400), np.zeros(400, np.int64), rng.Stream.FADING, (1000,))
    assert abs(np.corrcoef(pairs[:, :500].ravel(), pairs[:, 500:].ravel())[0, 1]) < 0.01


@pytest.mark.parametrize("n", [1, 6, 7])
def test_normal_matches_a_pure_python_box_muller(n: int) -> None:
    """Each pair: one SplitMix64 output, radius from its top 40 bits, angle
    2 pi k / 2**24 from its low 24 bits (the tables reproduce cos and sin)."""
    keys, ctr = _keys(3), np.array([0, 5, 9], dtype=np.int64)
    z = rng.normal(keys, ctr, rng.Stream.FADING, (n,))
    heads = rng._heads(keys, ctr, rng.Stream.FADING)
    half = (n + 1) // 2
    for b in range(3):
        for i in range(half):
            bits = rng._mix_int((int(heads[b]) + i * rng._GOLDEN_INT) & rng._MASK64)
            r = math.sqrt(-2.0 * math.log(((bits >> 24) + 0.5) / 2.0**40))
            theta = 2.0 * math.pi * (bits & 0xFFFFFF) / 2.0**24
            assert z[b, i] == pytest.approx(r * math.cos(theta), abs=1e-14)
            if i + half < n:
                assert z[b, i + half] == pytest.approx(r * math.sin(theta), abs=1e-14)


def test_angle_tables_give_cos_and_sin_of_every_24_bit_angle() -> None:
    k = np.arange(0, 1 << 24, 997, dtype=np.int64)
    hi, lo = k >> 12, k & 0xFFF
    cos = rng._COS_HI[hi] * rng._COS_LO[lo] - rng._SIN_HI[hi] * rng._SIN_LO[lo]
    sin = rng._SIN_HI[hi] * rng._COS_LO[lo] + rng._COS_HI[hi] * rng._SIN_LO[lo]
    theta = 2.0 * np.pi * k / 2.0**24
    np.testing.assert_allclose(cos, [math.cos(t) for t in theta], rtol=0, atol=2e-15)
    np.testing.assert_allclose(sin, [math.sin(t) for t in theta], rtol=0, atol=2e-15)


@pytest.mark.parametrize("n", [1, 2, 7, 480])
def test_normal_of_a_sub_env_does_not_depend_on_the_batch(n: int) -> None:
    keys, ctr = _keys(9), np.arange(9, dtype=np.int64) * 3
    batch = rng.normal(keys, ctr, rng.Stream.SHADOWING, (n,))
    assert batch.shape == (9, n) and np.isfinite(batch).all()
    for b in (0, 4, 8):
        alone = rng.normal(keys[b : b + 1], ctr[b : b + 1], rng.Stream.SHADOWING, (n,))
        np.testing.assert_array_equal(alone[0], batch[b])


def test_normal_streams_and_counters_give_different_draws() -> None:
    keys, ctr = _keys(4), np.zeros(4, np.int64)
    a = rng.normal(keys, ctr, rng.Stream.FADING, (64,))
    assert not np.array_equal(a, rng.normal(keys, ctr, rng.Stream.SHADOWING, (64,)))
    assert not np.array_equal(a, rng.normal(keys, ctr + 1, rng.Stream.FADING, (64,)))
    assert not np.array_equal(a[0], a[1])


def _malloc_state(env: dict[str, str]) -> str:
    code = "import gainnet_rl.envs._malloc as m, gainnet_rl.envs; print(m.applied)"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.skipif(not _malloc.supported(), reason="64-bit glibc only")
def test_malloc_tuning_applies_on_import_and_can_be_turned_off() -> None:
    assert _malloc_state({"GAINNET_RL_MALLOC_TUNING": "1"}) == "True"
    for off in ("0", "off", "False"):
        assert _malloc_state({"GAINNET_RL_MALLOC_TUNING": off}) == "False"


def test_malloc_tuning_is_skipped_where_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_malloc, "applied", False)
    monkeypatch.setattr(_malloc, "supported", lambda: False)
    monkeypatch.delenv("GAINNET_RL_MALLOC_TUNING", raising=False)
    assert _malloc.tune_malloc() is False


def test_compiled_twins_draw_the_array_functions_numbers() -> None:
    """The kernels' scalar draws (uniform1, normal_pair1, poisson1,
    poisson_table1) equal the array functions element for element (the
    normals to within 2 units in the last place: their log's last bit)."""
    from numba import njit

    @njit(cache=False)
    def draw(key, counter, stream, n):  # type: ignore[no-untyped-def]
        uni, nor = np.empty((key.size, n)), np.empty((key.size, n))
        half = (n + 1) // 2
        for b in range(key.size):
            head = rng.head1(key[b], counter[b], stream)
            for i in range(n):
                uni[b, i] = rng.uniform1(head, i)
            for j in range(half):
                z0, z1 = rng.normal_pair1(head, j)
                nor[b, j] = z0
                if j + half < n:
                    nor[b, j + half] = z1
        return uni, nor

    key, counter = _keys(64), np.arange(64, dtype=np.int64) * 7
    for n in (1, 2, 7, 160):
        uni, nor = draw(key, counter, int(rng.Stream.FADING), n)
        np.testing.assert_array_equal(uni, rng.uniform(key, counter, rng.Stream.FADING, (n,)))
        # the radius's float64 log may differ in its last bit between numpy's
        # and LLVM's (SIMD) paths on some CPUs (rng.normal's docstring)
        np.testing.assert_array_max_ulp(nor, rng.normal(key, counter, rng.Stream.FADING, (n,)), 2)

    @njit(cache=False)
    def counts(u, lam, cdf):  # type: ignore[no-untyped-def]
        a = np.empty(u.size, np.int64)
        t = np.empty(u.size, np.int64)
        for i in range(u.size):
            a[i] = rng.poisson1(u[i], lam[i])
            t[i] = rng.poisson_table1(u[i], cdf)
        return a, t

    u = rng.uniform(_keys(1), np.zeros(1, np.int64), rng.Stream.ARRIVAL_COUNT, (20_000,))[0]
    lam = np.linspace(0.0, 30.0, u.size)
    a, _ = counts(u, lam, rng.poisson_cdf(0.4))
    np.testing.assert_array_equal(a, rng.poisson(u, lam))
    _, t = counts(u, lam, rng.poisson_cdf(0.4))
    np.testing.assert_array_equal(t, rng.poisson(u, 0.4))
