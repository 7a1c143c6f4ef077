"""The natively batched vector environment: all sub-envs step in one numpy call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from gainnet_rl.envs import core
from gainnet_rl.envs.config import make_params
from gainnet_rl.envs.engine import Engine
from gainnet_rl.envs.params import Params


class GainNetVectorEnv(VectorEnv):
    """``num_envs`` GainNet sub-environments stepped together.

    Same arguments, spaces, reward and dynamics as
    :class:`gainnet_rl.envs.GainNetEnv`. Sub-env i reset with seed s draws
    exactly what a scalar env reset with seed s draws (``reset(seed=s)``
    seeds sub-env i with ``s + i``, as Gymnasium's vector envs do).

    Autoreset is ``SAME_STEP``: on the step that truncates a sub-env, its
    final observation is in ``infos["final_obs"]``, its final info (with
    ``episode_metrics``) in ``infos["final_info"]``, and the returned
    observation is already the first of its next episode.
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        scenario: str | Mapping[str, Any] = "small",
        load: float | None = None,
        action_mode: str = "discrete",
        observation: str = "flat",
        option_outcomes: bool = True,
        render_mode: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        params: Params | None = None,
    ) -> None:
        if render_mode is not None:
            raise ValueError(
                f"render_mode={render_mode!r} is invalid for the vector env: "
                "must be None (render a scalar env instead)"
            )
        self.params = params if params is not None else make_params(scenario, load, overrides)
        self.engine = Engine(self.params, num_envs, action_mode, observation, option_outcomes)
        self.num_envs = self.engine.num_envs
        self.single_action_space = self.engine.action_space
        self.single_observation_space = self.engine.observation_space
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.render_mode = None

    @property
    def state(self) -> core.State:
        assert self.engine.state is not None, "call reset() first"
        return self.engine.state

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            seeds: list[int | None] = [int(seed) + i for i in range(self.num_envs)]
        elif seed is None:
            seeds = [None] * self.num_envs
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(
                    f"seed has {len(seeds)} entries: must have num_envs={self.num_envs}"
                )
        self.engine.reset(seeds)
        return self.engine.observe(), self._info()

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict]:
        if self.engine.state is None:
            raise RuntimeError("call reset() before step()")
        rewards, truncated, step_info = self.engine.step(actions)
        obs = self.engine.observe()
        done = np.flatnonzero(truncated)
        final: dict[str, Any] = {}
        if done.size:
            metrics = core.episode_metrics(self.state, self.params)
            obj = np.full(self.num_envs, None, dtype=object)
            for i in done:
                obj[i] = (
                    {k: v[i].copy() for k, v in obs.items()}
                    if isinstance(obs, dict)
                    else obs[i].copy()
                )
            mask = np.zeros(self.num_envs, dtype=bool)
            mask[done] = True
            final["final_obs"], final["_final_obs"] = obj, mask
            final_info = {k: np.where(mask, v, 0) for k, v in step_info.items()}
            final_info["episode_metrics"] = {k: np.where(mask, v, 0.0) for k, v in metrics.items()}
            final_info["_episode_metrics"] = mask.copy()
            final["final_info"], final["_final_info"] = final_info, mask.copy()
            # Autoreset: only the finished sub-envs' observations change.
            self.engine.reset([None] * done.size, done)
            fresh = self.engine.observe(done)
            if isinstance(obs, dict):
                for k, v in fresh.items():
                    obs[k][done] = v
            else:
                obs[done] = fresh
        infos: dict[str, Any] = self._info()
        infos.update(step_info)
        infos.update(final)
        return obs, rewards, np.zeros(self.num_envs, dtype=bool), truncated.copy(), infos

    def action_masks(self) -> np.ndarray:
        """(num_envs, N) valid actions of each sub-env's current decision."""
        return self.engine.action_masks()

    def _info(self) -> dict[str, Any]:
        info: dict[str, Any] = dict(self.engine.kpis())
        info["action_mask"] = self.engine.action_masks()
        return info
