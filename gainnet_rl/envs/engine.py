"""The shared shell logic of the scalar and the vector env.

:class:`Engine` owns a batch of sub-environments: their parameters, state,
seeds and episode counters. It validates and decodes actions, calls the pure
dynamics (:mod:`gainnet_rl.envs.core`) and encodes observations and infos.
The Gymnasium classes in ``gainnet_env.py`` and ``vector_env.py`` are thin
wrappers over it, so both step through exactly the same code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from gainnet_rl.envs import core, rng
from gainnet_rl.envs import observation as obs_mod
from gainnet_rl.envs.config import ConfigError
from gainnet_rl.envs.params import Params


def obs_row(obs: Any, i: int) -> Any:
    """Sub-env ``i``'s observation (a copy) of a batched one (array or nested dict)."""
    if isinstance(obs, dict):
        return {k: obs_row(v, i) for k, v in obs.items()}
    return obs[i].copy()


def obs_put(obs: Any, idx: np.ndarray, rows: Any) -> None:
    """Write the batched observation ``rows`` into ``obs`` at ``idx`` (in place)."""
    if isinstance(obs, dict):
        for k, v in rows.items():
            obs_put(obs[k], idx, v)
    else:
        obs[idx] = rows


ACTION_MODES = ("discrete", "continuous")
OBSERVATION_MODES = ("flat", "graph")


class Engine:
    """A batch of ``num_envs`` GainNet sub-environments.

    Args:
        params: scenario parameters.
        num_envs: batch size B.
        action_mode: ``"discrete"`` (an index) or ``"continuous"`` (a score per
            option in [-1, 1]; the best-scored valid option is taken).
        observation: ``"flat"`` (Box) or ``"graph"`` (Dict).
        option_outcomes: include each request option's exact outcome
            (latency, quality, met, reward) in the observation (section 12.7);
            False leaves only each option's validity.
        mask_key: None (default), or put the action mask into the observation:
            a ``Dict`` of ``obs_key`` (the flat or graph observation) and
            ``mask_key`` (MultiBinary(N), 1 = valid), for clients that read
            the mask from the observation (TorchRL's ActionMask:
            ``mask_key="action_mask"``; Tianshou: ``mask_key="mask",
            obs_key="obs"``). The mask is always in ``info["action_mask"]``.
        obs_key: the observation's key in that Dict (default ``"observation"``).
    """

    def __init__(
        self,
        params: Params,
        num_envs: int,
        action_mode: str = "discrete",
        observation: str = "flat",
        option_outcomes: bool = True,
        mask_key: str | None = None,
        obs_key: str = "observation",
    ) -> None:
        if action_mode not in ACTION_MODES:
            raise ConfigError(
                f"action_mode={action_mode!r} is invalid: must be one of {list(ACTION_MODES)}"
            )
        if observation not in OBSERVATION_MODES:
            raise ConfigError(
                f"observation={observation!r} is invalid: must be one of {list(OBSERVATION_MODES)}"
            )
        if not isinstance(option_outcomes, (bool, np.bool_)):
            raise ConfigError(
                f"option_outcomes={option_outcomes!r} is invalid: must be true or false"
            )
        if mask_key is not None and (not isinstance(mask_key, str) or not mask_key):
            raise ConfigError(
                f"mask_key={mask_key!r} is invalid: must be None or a key name (e.g. 'action_mask')"
            )
        if not isinstance(obs_key, str) or not obs_key or obs_key == mask_key:
            raise ConfigError(
                f"obs_key={obs_key!r} is invalid: must be a key name other than mask_key"
            )
        if not (isinstance(num_envs, (int, np.integer)) and num_envs >= 1):
            raise ConfigError(f"num_envs={num_envs!r} is invalid: must be an integer >= 1")
        self.params = params
        self.num_envs = int(num_envs)
        self.action_mode = action_mode
        self.observation_mode = observation
        self.option_outcomes = bool(option_outcomes)
        n = params.num_actions
        self.action_space: spaces.Space = (
            spaces.Discrete(n)
            if action_mode == "discrete"
            else spaces.Box(-1.0, 1.0, shape=(n,), dtype=np.float32)
        )
        self.observation_space: spaces.Space = (
            obs_mod.flat_space(params, self.option_outcomes)
            if observation == "flat"
            else obs_mod.graph_space(params, self.option_outcomes)
        )
        self.mask_key, self.obs_key = mask_key, obs_key
        if mask_key is not None:
            self.observation_space = spaces.Dict(
                {obs_key: self.observation_space, mask_key: spaces.MultiBinary(n)}
            )
        self.base_key = np.zeros(self.num_envs, dtype=np.uint64)
        self.episode = np.zeros(self.num_envs, dtype=np.int64)
        self._seeded = np.zeros(self.num_envs, dtype=bool)
        self.state: core.State | None = None
        self._outcomes: dict[str, np.ndarray] | None = None
        self._mask: np.ndarray | None = None

    # ----------------------------------------------------------------- seeding
    def reset(self, seeds: list[int | None] | None = None, idx: np.ndarray | None = None) -> None:
        """Start new episodes for sub-envs ``idx`` (all by default).

        A sub-env given an int seed restarts its seed sequence from it; one
        given None continues it (its next episode key), as Gymnasium's
        ``reset(seed=None)`` does.
        """
        idx = np.arange(self.num_envs) if idx is None else np.asarray(idx)
        if self.state is None and len(idx) != self.num_envs:
            raise RuntimeError("the first reset must reset every sub-env")
        seeds = list(seeds) if seeds is not None else [None] * len(idx)
        for j, i in enumerate(idx):
            sd = seeds[j]
            if sd is not None:
                if not isinstance(sd, (int, np.integer)) or isinstance(sd, bool) or sd < 0:
                    raise ValueError(f"seed={sd!r} is invalid: must be a non-negative integer")
                self.base_key[i] = rng.seed_to_key(int(sd))
                self.episode[i] = 0
                self._seeded[i] = True
            elif not self._seeded[i]:
                self.base_key[i] = rng.seed_to_key(int(np.random.SeedSequence().entropy % 2**63))
                self._seeded[i] = True
        keys = rng.episode_key(self.base_key[idx], self.episode[idx])
        self.episode[idx] += 1
        fresh = core.reset(keys, self.params)
        if self.state is None or np.array_equal(idx, np.arange(self.num_envs)):
            self.state = fresh
            self._refresh()
            return
        self.put_rows(idx, fresh)

    def load_state(self, state: core.State) -> None:
        """Make ``state`` (B = num_envs, e.g. gathered from sub-envs running in
        other processes) the current state; recomputes outcomes and masks."""
        if len(state.slot) != self.num_envs:
            raise ValueError(
                f"state has {len(state.slot)} sub-envs: must have num_envs={self.num_envs}"
            )
        self.state = state
        self._refresh()

    def take_rows(self, idx: np.ndarray) -> core.State:
        """A copy of sub-envs ``idx``'s state (B = len(idx))."""
        assert self.state is not None, "call reset() first"
        return core.take(self.state, np.asarray(idx))

    def put_rows(self, idx: np.ndarray, rows: core.State) -> None:
        """Write ``rows`` (from :meth:`take_rows`) back as sub-envs ``idx``'s state;
        only those rows' outcomes and masks are recomputed."""
        assert self.state is not None and self._outcomes is not None and self._mask is not None
        core.put(self.state, np.asarray(idx), rows)
        out = core.request_outcomes(rows, self.params)
        for k, v in out.items():
            self._outcomes[k][idx] = v
        self._mask[idx] = core.action_mask(rows, self.params, out)

    def _refresh(self) -> None:
        assert self.state is not None
        self._outcomes = core.request_outcomes(self.state, self.params)
        self._mask = core.action_mask(self.state, self.params, self._outcomes)

    # ----------------------------------------------------------------- actions
    def outcomes(self) -> dict[str, np.ndarray]:
        """Each option's exact outcome for the current request of every sub-env
        (:func:`gainnet_rl.envs.core.request_outcomes`), as the heuristics read it."""
        assert self._outcomes is not None, "call reset() first"
        return self._outcomes

    def action_masks(self) -> np.ndarray:
        """(B, N) bool mask of valid actions for the current decision."""
        assert self._mask is not None, "call reset() first"
        return self._mask.copy()

    def decode(self, actions: Any) -> np.ndarray:
        """Validate a batch of actions and turn them into (B,) action indices.

        Raises ValueError naming the problem on a wrong shape, a non-finite or
        out-of-range value. A valid index the mask forbids is accepted here;
        the dynamics count and penalise it.
        """
        B, n = self.num_envs, self.params.num_actions
        a = np.asarray(actions)
        if self.action_mode == "discrete":
            if a.shape not in ((B,), (B, 1)) and not (B == 1 and a.shape == ()):
                raise ValueError(
                    f"action has shape {a.shape}: must be ({B},) integers in [0, {n})"
                    if B > 1
                    else f"action has shape {a.shape}: must be a scalar integer in [0, {n})"
                )
            a = a.reshape(B)
            if a.dtype.kind == "f":
                if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
                    raise ValueError(
                        f"action={a.tolist()} is invalid: must be integers in [0, {n})"
                    )
            elif a.dtype.kind not in "iub":
                raise ValueError(f"action dtype {a.dtype} is invalid: must be integers in [0, {n})")
            a = a.astype(np.int64)
            if np.any((a < 0) | (a >= n)):
                raise ValueError(f"action={a.tolist()} is out of range: must be in [0, {n})")
            return a
        want = (B, n)
        if a.shape != want and not (B == 1 and a.shape == (n,)):
            raise ValueError(
                f"action has shape {a.shape}: must be {want if B > 1 else (n,)} scores in [-1, 1]"
            )
        a = a.reshape(B, n).astype(np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError("action contains NaN or inf: scores must be finite, in [-1, 1]")
        if np.any((a < -1.0 - 1e-6) | (a > 1.0 + 1e-6)):
            raise ValueError(
                f"action scores must lie in [-1, 1], got min {a.min():.4g}, max {a.max():.4g}"
            )
        assert self._mask is not None, "call reset() first"
        return np.argmax(np.where(self._mask, a, -np.inf), axis=1)

    # -------------------------------------------------------------------- step
    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Step every sub-env. Returns (reward (B,), truncated (B,), info)."""
        assert self.state is not None, "call reset() first"
        a = self.decode(actions)
        self.state, reward, info = core.step(self.state, a, self.params, self._outcomes)
        truncated = self.state.slot >= self.params.episode_slots
        self._refresh()
        info["cost"] = info["dropped"].copy()
        return reward, truncated, info

    # ------------------------------------------------------------ observations
    def observe(self, idx: np.ndarray | None = None) -> Any:
        """Observations of all sub-envs, or of sub-envs ``idx`` only."""
        assert self.state is not None and self._outcomes is not None
        state, out = self.state, self._outcomes
        if idx is not None:
            state, out = core.take(state, idx), {k: v[idx] for k, v in out.items()}
        if self.observation_mode == "flat":
            obs = obs_mod.flat_obs(state, self.params, out, self.option_outcomes)
        else:
            obs = obs_mod.graph_obs(state, self.params, out, self.option_outcomes)
        if self.mask_key is None:
            return obs
        assert self._mask is not None
        mask = self._mask if idx is None else self._mask[idx]
        return {self.obs_key: obs, self.mask_key: mask.astype(np.int8)}

    def kpis(self) -> dict[str, np.ndarray]:
        """(B,) snapshot of network KPIs, means over edges: seconds until an edge's
        earliest compute stream, uplink sub-band and backhaul are free, the
        cloud's, the share of compute streams busy; the decision type."""
        s, p = self.state, self.params
        assert s is not None
        now = np.minimum(s.slot, p.episode_slots) * p.slot_s
        E = p.num_edges  # x.sum(axis=1) / E is x.mean(axis=1), without its Python overhead
        wait = lambda free: np.maximum(free.min(axis=-1) - now[:, None], 0.0).sum(axis=1) / E
        return {
            "slot": s.slot.copy(),
            "decision_type": core.decision_type(s, p),
            "edge_backlog_s": wait(s.st_free_s),
            "cloud_backlog_s": np.maximum(s.cloud_free_s.min(axis=-1) - now, 0.0),
            "uplink_backlog_s": wait(s.ul_free_s),
            "backhaul_backlog_s": np.maximum(s.bh_free_s - now[:, None], 0.0).sum(axis=1) / E,
            "edge_utilization": (s.st_free_s > now[:, None, None]).sum(axis=(1, 2))
            / (E * p.max_batch),
            "pending": core.pending(s),
        }
