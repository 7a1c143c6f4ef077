"""Gymnasium wrappers for agents that ignore the action mask.

Many of a decision's N actions are forbidden (edges out of range, plans that
do not fit, padding beyond the scenario's edges and plans). The env penalises a forbidden
action (``w_invalid``) and carries out the fallback (a forbidden request
choice rejects the request, a forbidden plan keeps the edge's current one),
so an agent that samples all N actions uniformly starts far below the
uniform-valid policy (-13.22 against -4.59 per episode on small at load 1:
docs/results/clients.md, ``python scripts/client_returns.py``).
Agents with masking (MaskablePPO, a masked-logits loop, TorchRL's
ActionMask, Tianshou's ``obs.mask``) need no wrapper; for the others
:class:`ValidActions` (one env) and :class:`ValidActionsVector` (a vector
env) replace a forbidden discrete action by a valid one drawn uniformly, so
exploration starts at the uniform-valid level, and report it in
``info["action_replaced"]``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorWrapper


def _replace(action: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise: keep a valid action, else draw one uniformly among the valid ones."""
    bad = ~mask[np.arange(len(action)), action]
    if bad.any():
        u = rng.random((int(bad.sum()), mask.shape[1]))
        action = action.copy()
        action[bad] = np.argmax(np.where(mask[bad], u, -1.0), axis=1)
    return action


def _check_discrete(space: gym.Space, what: str) -> None:
    if not isinstance(space, gym.spaces.Discrete):
        raise ValueError(
            f"{what} needs action_mode='discrete' (got {space}); in the continuous mode the "
            "env already takes the best-scored valid option"
        )


class ValidActions(gym.Wrapper):
    """One GainNet env: a forbidden action becomes a uniformly drawn valid one.

    Args:
        env: a (wrapped) GainNet env with ``action_mode="discrete"``.
        seed: seed of the draws (also re-seeded by ``reset(seed=...)``).
    """

    def __init__(self, env: gym.Env, seed: int | None = None) -> None:
        super().__init__(env)
        _check_discrete(env.action_space, "ValidActions")
        self._rng = np.random.default_rng(seed)
        self._mask: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        if seed is not None:
            self._rng = np.random.default_rng([seed, 0x5EED])
        obs, info = self.env.reset(seed=seed, options=options)
        self._mask = np.asarray(info["action_mask"], dtype=bool)
        return obs, info

    def step(self, action: Any) -> Any:
        if self._mask is None:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(action).reshape(1).astype(np.int64)
        if not 0 <= a[0] < self._mask.size:
            raise ValueError(
                f"action={int(a[0])} is out of range: must be in [0, {self._mask.size})"
            )
        valid = _replace(a, self._mask[None], self._rng)
        obs, reward, terminated, truncated, info = self.env.step(int(valid[0]))
        info["action_replaced"] = bool(valid[0] != a[0])
        self._mask = np.asarray(info["action_mask"], dtype=bool)
        return obs, reward, terminated, truncated, info


class ValidActionsVector(VectorWrapper):
    """A vector env of GainNet envs (native, sync or async): each sub-env's
    forbidden action becomes a uniformly drawn valid one (the masks come from
    ``infos["action_mask"]``)."""

    def __init__(self, env: gym.vector.VectorEnv, seed: int | None = None) -> None:
        super().__init__(env)
        _check_discrete(env.single_action_space, "ValidActionsVector")
        self._rng = np.random.default_rng(seed)
        self._mask: np.ndarray | None = None

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> Any:
        if isinstance(seed, (int, np.integer)):
            self._rng = np.random.default_rng([int(seed), 0x5EED])
        obs, infos = self.env.reset(seed=seed, options=options)
        self._mask = np.asarray(infos["action_mask"], dtype=bool)
        return obs, infos

    def step(self, actions: Any) -> Any:
        if self._mask is None:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(actions).reshape(self.num_envs).astype(np.int64)
        n = self._mask.shape[1]
        if np.any((a < 0) | (a >= n)):
            raise ValueError(f"actions={a.tolist()} are out of range: must be in [0, {n})")
        valid = _replace(a, self._mask, self._rng)
        obs, rewards, terminated, truncated, infos = self.env.step(valid)
        infos["action_replaced"] = valid != a
        self._mask = np.asarray(infos["action_mask"], dtype=bool)
        return obs, rewards, terminated, truncated, infos
