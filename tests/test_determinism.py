"""Seeding: the same seed gives identical trajectories (observations, rewards,
infos), different seeds give different ones, under a seeded random policy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gainnet_rl.envs import GainNetEnv

CASES = [
    ("small", "discrete", "flat"),
    ("small", "continuous", "graph"),
    ("medium", "discrete", "graph"),
    ("medium", "continuous", "flat"),
]


def _equal(a: Any, b: Any) -> bool:
    """Exact, recursive equality of observations, rewards and infos."""
    if isinstance(a, dict) or isinstance(b, dict):
        return (
            isinstance(a, dict)
            and isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_equal(a[k], b[k]) for k in a)
        )
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))
    return type(a) is type(b) and a == b


def _assert_same(t1: list, t2: list) -> None:
    assert len(t1) == len(t2), "episode lengths differ"
    for i, ((o1, r1, i1), (o2, r2, i2)) in enumerate(zip(t1, t2, strict=True)):
        assert _equal(o1, o2), f"observations differ at step {i}"
        assert _equal(r1, r2), f"rewards differ at step {i}: {r1} vs {r2}"
        assert _equal(i1, i2), f"infos differ at step {i}"


def _rollout(env, play, random_action, seed, policy_seed=0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(policy_seed)
    traj, _ = play(env, lambda e, o, i: random_action(e, rng), seed)
    return traj


@pytest.mark.parametrize(("scenario", "action_mode", "observation"), CASES)
def test_same_seed_same_trajectory(scenario, action_mode, observation, play, random_action):
    kw = dict(scenario=scenario, action_mode=action_mode, observation=observation)
    t1 = _rollout(GainNetEnv(**kw), play, random_action, seed=7)
    t2 = _rollout(GainNetEnv(**kw), play, random_action, seed=7)
    assert len(t1) > 20
    _assert_same(t1, t2)


@pytest.mark.parametrize(("scenario", "action_mode", "observation"), CASES[:2])
def test_different_seeds_differ(scenario, action_mode, observation, play, random_action):
    kw = dict(scenario=scenario, action_mode=action_mode, observation=observation)
    t1 = _rollout(GainNetEnv(**kw), play, random_action, seed=7)
    t2 = _rollout(GainNetEnv(**kw), play, random_action, seed=8)
    # The very first observations already differ (device positions, channels).
    assert not _equal(t1[0][0], t2[0][0])
    rewards1 = [r for _, r, _ in t1[1:]]
    rewards2 = [r for _, r, _ in t2[1:]]
    assert rewards1 != rewards2


def test_reseeding_the_same_instance_replays_the_episode(play, random_action) -> None:
    env = GainNetEnv(scenario="small")
    t1 = _rollout(env, play, random_action, seed=3)
    _rollout(env, play, random_action, seed=4)  # something else in between
    t2 = _rollout(env, play, random_action, seed=3)
    _assert_same(t1, t2)


def test_unseeded_resets_continue_the_seed_sequence(play, random_action) -> None:
    """reset(seed=s) then reset() plays the same second episode on two instances,
    and that episode differs from the first."""
    envs = [GainNetEnv(scenario="small"), GainNetEnv(scenario="small")]
    firsts, seconds = [], []
    for env in envs:
        firsts.append(_rollout(env, play, random_action, seed=11))
        seconds.append(_rollout(env, play, random_action, seed=None))
    _assert_same(firsts[0], firsts[1])
    _assert_same(seconds[0], seconds[1])
    assert not _equal(firsts[0][0][0], seconds[0][0][0])
