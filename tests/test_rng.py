"""The counter-based random numbers: distributions, batch independence, and
the process-level malloc tuning that the batched dynamics rely on for speed."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from gainnet_rl.envs import rng


def _keys(n: int) -> np.ndarray:
    return rng.mix64(np.arange(n, dtype=np.uint64))


def test_normal_draws_are_standard_normal() -> None:
    z = rng.normal(_keys(400), np.zeros(400, np.int64), rng.Stream.FADING, (2, 625)).ravel()
    assert z.size == 500_000
    assert abs(z.mean()) < 5 * 1 / np.sqrt(z.size)
    assert abs(z.var() - 1.0) < 5 * np.sqrt(2 / z.size)
    assert abs(stats.skew(z)) < 0.02 and abs(stats.kurtosis(z)) < 0.04
    # tails: P(|z| > 3) = 0.0027; the 40-bit radius reaches 7.54 at most
    assert (np.abs(z) > 3).mean() == pytest.approx(2 * stats.norm.sf(3), rel=0.1)
    assert np.abs(z).max() < 7.54
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # the cos half and the sin half of each pair are uncorrelated
    pairs = rng.normal(_keys(400), np.zeros(400, np.int64), rng.Stream.FADING, (1000,))
    assert abs(np.corrcoef(pairs[:, :500].ravel(), pairs[:, 500:].ravel())[0, 1]) < 0.01


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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
def test_malloc_tuning_applies_on_import_and_can_be_turned_off() -> None:
    assert _malloc_state({"GAINNET_RL_MALLOC_TUNING": "1"}) == "True"
    assert _malloc_state({"GAINNET_RL_MALLOC_TUNING": "0"}) == "False"
