"""Conservation of requests: every request that arrived is served, dropped or
still pending, per episode and at every step, for every heuristic and a
random policy, at loads from 0 to 4 (where queue overflow may drop requests)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.envs import GainNetEnv, core
from gainnet_rl.envs.config import make_params

LOADS = (0.0, 1.0, 4.0)


def _check_episode(env: GainNetEnv, policy, seed: int, load: float) -> dict:  # type: ignore[no-untyped-def]
    obs, info = env.reset(seed=seed)
    served = dropped = 0.0
    steps = 0
    while True:
        action, _ = policy.predict(obs, deterministic=True)
        obs, _, _, truncated, info = env.step(action)
        served += info["served"]
        dropped += info["dropped"]
        steps += 1
        if truncated:
            break
    ep = info["episode_metrics"]
    assert ep["arrived"] == ep["served"] + ep["dropped"] + ep["pending"], ep
    # The per-step infos add up to the episode totals.
    assert served == pytest.approx(ep["served"])
    assert dropped == pytest.approx(ep["dropped"])
    # Every arrival that was queued got exactly one decision.
    decided = ep["local_requests"] + ep["edge_requests"] + ep["cloud_requests"] + ep["rejected"]
    assert decided == ep["arrived"] - ep["overflow"]
    assert min(ep["served"], ep["dropped"], ep["pending"]) >= 0
    if load == 0:
        assert ep["arrived"] == 0 and ep["served"] == 0 and ep["dropped"] == 0
    else:
        assert ep["arrived"] > 0 and ep["served"] > 0
    return ep


@pytest.mark.parametrize("load", LOADS)
@pytest.mark.parametrize("name", list(HEURISTICS))
def test_conservation_small(name: str, load: float) -> None:
    env = GainNetEnv(scenario="small", load=load)
    policy = HEURISTICS[name](env, seed=0)
    for seed in (0, 1):
        _check_episode(env, policy, seed, load)


@pytest.mark.parametrize("name", ["random", "greedy_utility", "cloud_only"])
def test_conservation_medium_high_load(name: str) -> None:
    env = GainNetEnv(scenario="medium", load=4.0)
    ep = _check_episode(env, HEURISTICS[name](env, seed=0), seed=3, load=4.0)
    assert ep["arrived"] > 150


@pytest.mark.parametrize("action_mode", ["discrete", "continuous"])
def test_conservation_under_random_valid_actions(action_mode, random_action) -> None:  # type: ignore[no-untyped-def]
    env = GainNetEnv(scenario="small", load=4.0, action_mode=action_mode)
    rng = np.random.default_rng(0)

    class Policy:
        def predict(self, obs, deterministic=True):  # type: ignore[no-untyped-def]
            return random_action(env, rng), None

    _check_episode(env, Policy(), seed=2, load=4.0)


def test_conservation_with_queue_overflow_at_every_step() -> None:
    """A per-slot request queue of 2 at load 4 overflows: the overflowed
    requests are counted as dropped and the books still balance, step by step."""
    p = dataclasses.replace(make_params("small", load=4.0), max_new_requests=2)
    B = 4
    state = core.reset(np.arange(1, B + 1, dtype=np.uint64), p)
    rng = np.random.default_rng(0)
    for _ in range(100_000):
        mask = core.action_mask(state, p)
        action = np.argmax(np.where(mask, rng.random(mask.shape), -1.0), axis=1)
        state, _, _ = core.step(state, action, p)
        m = core.episode_metrics(state, p)
        np.testing.assert_array_equal(m["arrived"], m["served"] + m["dropped"] + m["pending"])
        if (state.slot >= p.episode_slots).all():
            break
    assert (state.slot == p.episode_slots).all()
    m = core.episode_metrics(state, p)
    assert (m["overflow"] > 0).all(), m["overflow"]
    assert (m["dropped"] >= m["overflow"]).all()
