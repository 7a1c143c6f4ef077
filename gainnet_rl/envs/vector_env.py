"""The natively batched vector environment: all sub-envs step in one numpy call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from gainnet_rl.envs import core
from gainnet_rl.envs.config import make_params
from gainnet_rl.envs.engine import Engine, obs_put, obs_row
from gainnet_rl.envs.params import Params
from gainnet_rl.envs.render import render_fps


class GainNetVectorEnv(VectorEnv):
    """``num_envs`` GainNet sub-environments stepped together.

    Same arguments, spaces, reward and dynamics as
    :class:`gainnet_rl.envs.GainNetEnv`. Sub-env i reset with seed s draws
    exactly what a scalar env reset with seed s draws (``reset(seed=s)``
    seeds sub-env i with ``s + i``, as Gymnasium's vector envs do).

    Autoreset (``autoreset_mode``, Gymnasium's modes):

    - ``NEXT_STEP`` (default, as Gymnasium's sync and async vector envs): the
      step that truncates a sub-env returns its final observation, and its
      info holds ``episode_metrics`` (masked by ``_episode_metrics``); the
      next ``step`` resets that sub-env instead of stepping it (its action is
      ignored; reward 0, not terminated, not truncated). Every Gymnasium
      vector wrapper accepts it, and ``make_vec``'s three modes give the same
      trajectories.
    - ``SAME_STEP`` (the SB3 adapter and the evaluation loop): on the step
      that truncates a sub-env, its final observation is in
      ``infos["final_obs"]``, its final info (with ``episode_metrics``) in
      ``infos["final_info"]``, and the returned observation is already the
      first of its next episode.

    ``max_episode_steps`` truncates a sub-env after that many steps of an
    episode (as Gymnasium's TimeLimit; the episode's own end, slot T, still
    truncates it first if earlier). ``render_mode`` ``"ansi"`` or
    ``"rgb_array"``: :meth:`render` returns one frame per sub-env (a tuple).
    """

    metadata = {
        "render_modes": ["ansi", "rgb_array"],
        "render_fps": 10,
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

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
        version: int | None = None,
        params: Params | None = None,
        mask_key: str | None = None,
        obs_key: str = "observation",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        max_episode_steps: int | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is invalid: must be None or one of "
                f"{self.metadata['render_modes']}"
            )
        modes = {m.value: m for m in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)}
        mode = autoreset_mode.value if isinstance(autoreset_mode, AutoresetMode) else autoreset_mode
        if mode not in modes:
            raise ValueError(
                f"autoreset_mode={autoreset_mode!r} is invalid: must be one of {list(modes)}"
            )
        if max_episode_steps is not None and (
            isinstance(max_episode_steps, bool)
            or not isinstance(max_episode_steps, (int, np.integer))
            or max_episode_steps < 1
        ):
            raise ValueError(
                f"max_episode_steps={max_episode_steps!r} is invalid: must be None or an "
                "integer >= 1"
            )
        self.params = (
            params if params is not None else make_params(scenario, load, overrides, version)
        )
        self.engine = Engine(
            self.params, num_envs, action_mode, observation, option_outcomes, mask_key, obs_key
        )
        self.num_envs = self.engine.num_envs
        self.single_action_space = self.engine.action_space
        self.single_observation_space = self.engine.observation_space
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.render_mode = render_mode
        self.autoreset_mode = modes[mode]
        self.metadata = {
            **self.metadata,
            "autoreset_mode": self.autoreset_mode,
            "render_fps": render_fps(self.params),
        }
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self._elapsed = np.zeros(self.num_envs, dtype=np.int64)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)

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
        self._elapsed[:] = 0
        self._autoreset[:] = False
        return self.engine.observe(), self._info()

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict]:
        if self.engine.state is None:
            raise RuntimeError("call reset() before step()")
        pending = np.flatnonzero(self._autoreset)
        if pending.size:
            # NEXT_STEP: these sub-envs start their next episode instead of stepping;
            # the batch steps them anyway (one numpy call), and their fresh state is
            # written back afterwards
            self.engine.reset([None] * pending.size, pending)
            fresh = self.engine.take_rows(pending)
        rewards, truncated, step_info = self.engine.step(actions)
        self._elapsed += 1
        if self.max_episode_steps is not None:
            truncated = truncated | (self._elapsed >= self.max_episode_steps)
        if pending.size:
            self.engine.put_rows(pending, fresh)
            rewards[pending] = 0.0
            truncated[pending] = False
            self._elapsed[pending] = 0
            for v in step_info.values():
                v[pending] = 0
        obs = self.engine.observe()
        done = np.flatnonzero(truncated)
        extra: dict[str, Any] = {}
        self._autoreset[:] = False
        if done.size:
            mask = np.zeros(self.num_envs, dtype=bool)
            mask[done] = True
            metrics = {
                k: np.where(mask, v, 0.0)
                for k, v in core.episode_metrics(self.state, self.params).items()
            }
            if self.autoreset_mode == AutoresetMode.NEXT_STEP:
                extra = {"episode_metrics": metrics, "_episode_metrics": mask}
                self._autoreset = mask.copy()  # the info's array stays as returned
            else:
                obs, extra = self._same_step_reset(obs, done, mask, step_info, metrics)
        infos: dict[str, Any] = self._info()
        infos.update(step_info)
        infos.update(extra)
        return obs, rewards, np.zeros(self.num_envs, dtype=bool), truncated.copy(), infos

    def _same_step_reset(
        self,
        obs: Any,
        done: np.ndarray,
        mask: np.ndarray,
        step_info: dict[str, np.ndarray],
        metrics: dict[str, np.ndarray],
    ) -> tuple[Any, dict[str, Any]]:
        """SAME_STEP: record the finished sub-envs' final obs and info, reset them;
        returns the observations (theirs replaced by the next episode's first)
        and the ``final_obs`` / ``final_info`` entries."""
        obj = np.full(self.num_envs, None, dtype=object)
        for i in done:
            obj[i] = obs_row(obs, i)
        final_info = {k: np.where(mask, v, 0) for k, v in step_info.items()}
        final_info["episode_metrics"] = metrics
        final_info["_episode_metrics"] = mask.copy()
        self.engine.reset([None] * done.size, done)
        self._elapsed[done] = 0
        obs_put(obs, done, self.engine.observe(done))
        extra = {"final_obs": obj, "_final_obs": mask, "final_info": final_info}
        extra["_final_info"] = mask.copy()
        return obs, extra

    def action_masks(self) -> np.ndarray:
        """(num_envs, N) valid actions of each sub-env's current decision."""
        return self.engine.action_masks()

    def render(self) -> tuple[Any, ...] | None:
        """One frame per sub-env (``render_mode`` ``"ansi"``: text, ``"rgb_array"``:
        (H, W, 3) uint8), or None without a render mode."""
        if self.render_mode is None:
            return None
        from gainnet_rl.envs import render

        draw = render.ansi if self.render_mode == "ansi" else render.rgb_array
        return tuple(draw(self.state, self.params, b) for b in range(self.num_envs))

    def _info(self) -> dict[str, Any]:
        info: dict[str, Any] = dict(self.engine.kpis())
        info["action_mask"] = self.engine.action_masks()
        return info
