"""A stable-baselines3 ``VecEnv`` over the natively batched GainNet vector env.

SB3 trains on a ``VecEnv``; wrapping N scalar envs in ``DummyVecEnv`` would
step them one by one in Python. This adapter steps all N in one numpy call
(:class:`gainnet_rl.envs.GainNetVectorEnv`) and translates its outputs to
SB3's conventions:

- ``done = truncated`` (GainNet episodes are never terminated); on such a
  step ``infos[i]["terminal_observation"]`` holds the last observation and
  ``infos[i]["TimeLimit.truncated"] = True`` so PPO/SAC bootstrap from it;
- ``infos[i]["episode"] = {"r", "l", "t"}`` at an episode's end, as SB3's
  ``Monitor`` writes it, so ``rollout/ep_rew_mean`` is logged without a
  Monitor wrapper, plus ``infos[i]["episode_metrics"]`` (network KPIs);
- ``env_method("action_masks")`` for MaskablePPO.

The batched per-step info of the last step is kept in ``last_info`` (dict of
(N,) arrays) for callbacks that log network KPIs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices

from gainnet_rl.envs.params import Params
from gainnet_rl.envs.vector_env import GainNetVectorEnv


class GainNetSB3VecEnv(VecEnv):
    """SB3 view of ``num_envs`` GainNet sub-envs stepped in one call.

    Args:
        num_envs: number of sub-envs N.
        params: scenario parameters (see ``gainnet_rl.envs.engine.make_params``).
        action_mode, observation, option_outcomes: env encodings (see ``GainNetEnv``).
        seed: base seed; sub-env i starts from ``seed + i``. ``seed()`` overrides it.
    """

    def __init__(
        self,
        num_envs: int,
        params: Params,
        action_mode: str = "discrete",
        observation: str = "flat",
        seed: int | None = None,
        option_outcomes: bool = True,
    ) -> None:
        self.venv = GainNetVectorEnv(
            num_envs,
            autoreset_mode=AutoresetMode.SAME_STEP,
            params=params,
            action_mode=action_mode,
            observation=observation,
            option_outcomes=option_outcomes,
        )
        self.render_mode = None
        super().__init__(
            num_envs, self.venv.single_observation_space, self.venv.single_action_space
        )
        self._next_seed = seed
        self._actions: np.ndarray | None = None
        self._ep_return = np.zeros(num_envs)
        self._ep_len = np.zeros(num_envs, dtype=np.int64)
        self._t0 = time.time()
        self.last_info: dict[str, Any] = {}

    @property
    def params(self) -> Params:
        return self.venv.params

    # ------------------------------------------------------------ VecEnv API
    def reset(self) -> Any:
        seeds = list(self._seeds)
        if all(s is None for s in seeds) and self._next_seed is not None:
            seeds = [self._next_seed + i for i in range(self.num_envs)]
        self._next_seed = None
        obs, info = self.venv.reset(seed=seeds)
        self._reset_seeds()
        self._ep_return[:] = 0.0
        self._ep_len[:] = 0
        self.last_info = info
        return obs

    def seed(self, seed: int | None = None) -> Sequence[int | None]:  # type: ignore[override]
        if seed is None:
            return [None] * self.num_envs
        self._seeds = [seed + i for i in range(self.num_envs)]
        return list(self._seeds)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[Any, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        assert self._actions is not None, "step_async() first"
        obs, rewards, _, truncated, info = self.venv.step(self._actions)
        self._actions = None
        self.last_info = info
        self._ep_return += rewards
        self._ep_len += 1
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        done = np.flatnonzero(truncated)
        if done.size:
            final_obs = info["final_obs"]
            metrics = info["final_info"]["episode_metrics"]
            now = round(time.time() - self._t0, 6)
            for i in done:
                infos[i]["terminal_observation"] = final_obs[i]
                infos[i]["TimeLimit.truncated"] = True
                infos[i]["episode"] = {
                    "r": float(self._ep_return[i]),
                    "l": int(self._ep_len[i]),
                    "t": now,
                }
                infos[i]["episode_metrics"] = {k: float(v[i]) for k, v in metrics.items()}
            self._ep_return[done] = 0.0
            self._ep_len[done] = 0
        return obs, rewards.astype(np.float32), truncated.copy(), infos

    def close(self) -> None:
        self.venv.close()

    def action_masks(self) -> np.ndarray:
        """(N, A) valid actions of each sub-env."""
        return self.venv.action_masks()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        idx = self._get_indices(indices)
        if attr_name == "render_mode":
            return [None for _ in idx]
        value = getattr(self.venv, attr_name)
        return [value for _ in idx]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        idx = list(self._get_indices(indices))
        if method_name == "action_masks":
            masks = self.venv.action_masks()
            return [masks[i] for i in idx]
        raise AttributeError(f"GainNetSB3VecEnv has no per-env method {method_name!r}")

    def has_attr(self, attr_name: str) -> bool:
        return attr_name == "action_masks" or hasattr(self.venv, attr_name)

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]
