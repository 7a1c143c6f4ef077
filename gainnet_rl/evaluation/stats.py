"""Aggregate statistics researchers trust (Agarwal et al., NeurIPS 2021, rliable).

Scores come as a ``(training seeds, evaluation episodes)`` matrix: one row
per training seed (a baseline, deterministic, has one row), one column per
evaluation episode (the same held-out seeds for every policy, so columns
are paired across policies). Per policy and grid cell:

- the interquartile mean (IQM, the 25%-trimmed mean over every score) with a
  95% **stratified bootstrap** interval (rliable's ``StratifiedBootstrap``,
  percentile method): the training seeds are the strata, resampled
  themselves (``task_bootstrap=True``) and the episodes resampled within
  each, so the interval covers the seed-to-seed spread (a seed's policy
  plays every episode: its episodes are one cluster) and the
  episode-to-episode spread;
- the **probability of improvement** of X over Y (rliable's
  ``metrics.probability_of_improvement``: the chance that a run of X scores
  above a run of Y on the same evaluation episode, ties 1/2, averaged over
  the episodes), with a paired two-level bootstrap interval: each
  replication redraws the training seeds of X and of Y and one set of
  episodes shared by both. Its interval lies in [0, 1] by construction.

rliable is imported when a function is called (it pulls arch and
statsmodels, slow to import); its bootstrap draws from numpy's global
generator, which :func:`iqm_interval` seeds and restores.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

#: bootstrap replications (rliable's default, 50,000, takes minutes per cell)
IQM_REPS = 2000
POI_REPS = 2000


def _matrix(scores: Any, name: str) -> np.ndarray:
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 2:
        raise ValueError(
            f"{name} has shape {x.shape}: must be (training seeds >= 1, evaluation episodes >= 2)"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds NaN or inf: every score must be finite")
    return x


def poi(x: np.ndarray, y: np.ndarray) -> float:
    """rliable's ``metrics.probability_of_improvement`` (Mann-Whitney U / (n_x
    n_y) per episode, averaged), vectorised over the episodes: the share of
    (run of x, run of y) pairs on an episode where x scores higher, ties 1/2."""
    d = x[:, None, :] - y[None, :, :]  # (runs_x, runs_y, episodes)
    return float(np.mean((d > 0) + 0.5 * (d == 0)))


def iqm_interval(
    scores: Any, reps: int = IQM_REPS, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float, float]:
    """(IQM, low, high): the IQM of ``scores`` (training seeds, episodes) and its
    stratified bootstrap interval (rliable: seeds as strata, resampled, and
    episodes resampled within each; ``reps`` replications)."""
    from rliable import library as rly
    from rliable import metrics

    x = _matrix(scores, "scores").T  # rliable's (runs, tasks): episodes within seeds
    saved = np.random.get_state()
    np.random.seed(seed)  # rliable's StratifiedBootstrap draws from the global generator
    try:
        with warnings.catch_warnings():  # arch: RandomState arguments are deprecated
            warnings.simplefilter("ignore", FutureWarning)
            point, ci = rly.get_interval_estimates(
                {"x": x},
                lambda s: np.array([metrics.aggregate_iqm(s)]),
                task_bootstrap=True,
                reps=int(reps),
                confidence_interval_size=confidence,
                random_state=np.random.RandomState(seed),
            )
    finally:
        np.random.set_state(saved)
    return float(point["x"][0]), float(ci["x"][0, 0]), float(ci["x"][1, 0])


def probability_of_improvement(
    x: Any, y: Any, reps: int = POI_REPS, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float, float]:
    """(P(X > Y), low, high) over paired evaluation episodes (the columns of
    ``x`` (seeds_x, episodes) and ``y`` (seeds_y, episodes)): rliable's
    probability of improvement and its paired two-level bootstrap interval
    (seeds of each redrawn, one episode draw shared); all three in [0, 1]."""
    a, b = _matrix(x, "x"), _matrix(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"x has {a.shape[1]} evaluation episodes and y {b.shape[1]}: "
            "the probability of improvement pairs the same episodes"
        )
    gen = np.random.default_rng(seed)
    n_a, n_b, n_e = a.shape[0], b.shape[0], a.shape[1]
    boot = np.empty(int(reps))
    for i in range(boot.size):
        cols = gen.integers(0, n_e, n_e)
        ra, rb = gen.integers(0, n_a, n_a), gen.integers(0, n_b, n_b)
        boot[i] = poi(a[ra][:, cols], b[rb][:, cols])
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(boot, [tail, 100 - tail])
    return poi(a, b), float(lo), float(hi)


def verdict(agent: tuple[float, float, float], best: tuple[float, float, float]) -> str:
    """``won`` (the agent's interval lies above the best baseline's), ``lost``
    (below it), else ``tied (at or above)`` / ``tied (below)`` by the point
    estimates."""
    _, a_lo, a_hi = agent
    _, b_lo, b_hi = best
    if a_lo > b_hi:
        return "won"
    if a_hi < b_lo:
        return "lost"
    return "tied (at or above)" if agent[0] >= best[0] else "tied (below)"
