"""GainNet with the network size and the load drawn at random per episode.

One policy for every grid cell (issue 14's generalist): every scenario pads
its edges to ``max_edges`` and its plans to the same catalog, so the
observation and action spaces of small, medium and large agree, and a
policy trained here acts on any of them. ``gymnasium.make(
"gainnet_rl/GainNet-mix-v1")`` or :class:`GainNetMixEnv` directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from gainnet_rl.envs.config import ConfigError
from gainnet_rl.envs.gainnet_env import GainNetEnv

DEFAULT_SCENARIOS = ("small", "medium", "large")
DEFAULT_LOADS = (0.5, 1.0, 1.5, 2.0)


class GainNetMixEnv(gym.Env):
    """A :class:`GainNetEnv` whose (scenario, load) cell is drawn uniformly at
    random at every reset, from ``scenarios`` x ``loads``.

    The other arguments are :class:`GainNetEnv`'s, the same for every cell.
    ``info["scenario"]`` and ``info["load"]`` name the episode's cell;
    ``action_masks()`` is the current cell's. The draw and the episode's seed
    come from the env's own generator (``reset(seed=...)`` makes the whole
    sequence of cells and episodes reproducible).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 10}

    def __init__(
        self,
        scenarios: Sequence[str] = DEFAULT_SCENARIOS,
        loads: Sequence[float] = DEFAULT_LOADS,
        action_mode: str = "discrete",
        observation: str = "flat",
        option_outcomes: bool = True,
        render_mode: str | None = None,
        mask_key: str | None = None,
        obs_key: str = "observation",
        version: int | None = None,
    ) -> None:
        if isinstance(scenarios, str) or not scenarios:
            raise ConfigError(
                f"scenarios={scenarios!r} is invalid: must be a non-empty list of scenario names"
            )
        if isinstance(loads, (str, int, float)) or not loads:
            raise ConfigError(f"loads={loads!r} is invalid: must be a non-empty list of loads >= 0")
        self.cells = [(str(s), float(ld)) for s in scenarios for ld in loads]
        self.envs = [
            GainNetEnv(
                scenario=s,
                load=ld,
                action_mode=action_mode,
                observation=observation,
                option_outcomes=option_outcomes,
                render_mode=render_mode,
                mask_key=mask_key,
                obs_key=obs_key,
                version=version,
            )
            for s, ld in self.cells
        ]
        first = self.envs[0]
        for (s, ld), env in zip(self.cells, self.envs, strict=True):
            if env.observation_space != first.observation_space or (
                env.action_space != first.action_space
            ):
                raise ConfigError(
                    f"scenarios={list(scenarios)!r} is invalid: {s} (load {ld:g}) has other "
                    f"spaces than {self.cells[0][0]}: the scenarios must share max_edges and "
                    "the plan catalog"
                )
        self.observation_space = first.observation_space
        self.action_space = first.action_space
        self.render_mode = render_mode
        self._current: GainNetEnv | None = None
        self.cell: tuple[str, float] | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        i = int(self.np_random.integers(len(self.envs)))
        self._current, self.cell = self.envs[i], self.cells[i]
        obs, info = self._current.reset(seed=int(self.np_random.integers(2**62)))
        info["scenario"], info["load"] = self.cell
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._current is None:
            raise RuntimeError("call reset() before step()")
        obs, reward, terminated, truncated, info = self._current.step(action)
        assert self.cell is not None
        info["scenario"], info["load"] = self.cell
        return obs, reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """Valid actions of the current decision, (N,) bool (for MaskablePPO)."""
        if self._current is None:
            raise RuntimeError("call reset() before action_masks()")
        return self._current.action_masks()

    def render(self) -> Any:
        return None if self._current is None else self._current.render()
