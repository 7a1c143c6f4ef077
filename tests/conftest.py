"""Shared helpers of the environment tests, exposed as session-scoped fixtures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest


def random_valid_action(env: Any, rng: np.random.Generator) -> Any:
    """A uniformly random action the env's mask allows (discrete), or uniform
    random scores (continuous: the env takes the best-scored valid option)."""
    space = env.action_space
    if isinstance(space, gym.spaces.Discrete):
        return int(rng.choice(np.flatnonzero(env.action_masks())))
    return rng.uniform(-1.0, 1.0, size=space.shape).astype(np.float32)


def play_episode(
    env: Any, policy: Callable[[Any, Any, dict], Any], seed: int | None
) -> tuple[list[tuple[Any, float, dict]], dict]:
    """Reset with ``seed`` and step ``policy(env, obs, info)`` until the episode
    ends. Returns ([(obs, reward, info), ...] starting with the reset, with
    reward None there) and the last info."""
    obs, info = env.reset(seed=seed)
    traj: list[tuple[Any, Any, dict]] = [(obs, None, info)]
    for _ in range(1_000_000):
        obs, reward, terminated, truncated, info = env.step(policy(env, obs, info))
        traj.append((obs, reward, info))
        if terminated or truncated:
            return traj, info
    raise AssertionError("the episode never ended")


@pytest.fixture(scope="session")
def random_action() -> Callable[[Any, np.random.Generator], Any]:
    return random_valid_action


@pytest.fixture(scope="session")
def play() -> Callable[..., tuple[list[tuple[Any, float, dict]], dict]]:
    return play_episode
