"""GainNet-mix-v2: the size and load drawn per episode, one set of spaces."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from gainnet_rl.envs.config import ConfigError
from gainnet_rl.envs.mixture import GainNetMixEnv


def _episode(env: GainNetMixEnv, seed: int | None) -> tuple[tuple[str, float], float, int]:
    _, info = env.reset(seed=seed)
    cell, total, n = (info["scenario"], info["load"]), 0.0, 0
    while True:
        mask = env.action_masks()
        _, r, term, trunc, info = env.step(int(np.flatnonzero(mask)[0]))
        assert (info["scenario"], info["load"]) == cell
        total, n = total + r, n + 1
        if term or trunc:
            return cell, total, n


def test_spaces_are_shared_and_the_env_passes_gymnasiums_checker() -> None:
    env = gym.make("gainnet_rl/GainNet-mix-v2")
    check_env(env.unwrapped, skip_render_check=True)
    small = gym.make("gainnet_rl/GainNet-small-v2")
    assert env.observation_space == small.observation_space
    assert env.action_space == small.action_space


def test_cells_are_drawn_per_episode_and_reproducible() -> None:
    env = GainNetMixEnv(scenarios=("small", "medium"), loads=(0.5, 2.0))
    seen = [_episode(env, 7 if i == 0 else None) for i in range(8)]
    assert len({c for c, _, _ in seen}) >= 3  # 8 draws from 4 cells
    again = GainNetMixEnv(scenarios=("small", "medium"), loads=(0.5, 2.0))
    assert [_episode(again, 7 if i == 0 else None) for i in range(8)] == seen
    # an episode in a cell is that cell's env: the right number of devices
    env.reset(seed=3)
    assert env.cell is not None
    assert env._current is not None and env._current.params.load == env.cell[1]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"scenarios": []}, "scenarios"),
        ({"scenarios": "small"}, "scenarios"),
        ({"loads": []}, "loads"),
    ],
)
def test_bad_cells_are_clear_errors(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        GainNetMixEnv(**kwargs)


def test_step_before_reset_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="reset"):
        GainNetMixEnv(scenarios=("small",), loads=(1.0,)).step(0)
