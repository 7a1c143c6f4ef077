"""Heuristic orchestration policies (SYSTEM_MODEL section 11).

Every heuristic has the stable-baselines3 ``predict`` signature, so the one
evaluation function (:func:`gainnet_rl.agents.evaluation.evaluate`) runs
heuristics and learned agents alike. Heuristics **read the simulator's
state** (queues, channels, the exact outcome of each option for the current
request, as computed by :func:`gainnet_rl.envs.core.request_outcomes`), which
an orchestrator that monitors its network could know; they are bound to an
env (scalar or vector) when built.

On plan (frame) decisions every heuristic but ``random`` holds the scenario's
default plan: the tiers most requested that fit, the middle fine-tuning and
sensing levels (``Params.default_plan``).
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from gainnet_rl.envs import core
from gainnet_rl.envs.engine import Engine
from gainnet_rl.envs.gainnet_env import GainNetEnv


def _engine(env: Any) -> tuple[Engine, bool]:
    """The engine of a (possibly wrapped) GainNet env, and whether the env is scalar."""
    base = env.unwrapped if hasattr(env, "unwrapped") else env
    engine = getattr(base, "engine", None)
    if not isinstance(engine, Engine):
        raise TypeError(f"heuristics need a GainNet env (scalar or vector), got {type(env)!r}")
    return engine, isinstance(base, GainNetEnv)


class Heuristic(abc.ABC):
    """Base class: a policy reading the state of the env it is bound to.

    Args:
        env: a GainNetEnv or GainNetVectorEnv (wrappers allowed).
        seed: seed of the policy's own randomness (``random`` only).
    """

    name: str = "heuristic"

    def __init__(self, env: Any, seed: int = 0) -> None:
        self.engine, self.scalar = _engine(env)
        self.rng = np.random.default_rng(seed)

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
        action_masks: Any = None,
    ) -> tuple[np.ndarray, None]:
        """SB3-style: returns (actions, None). The observation is not used; the
        bound env's state is. Actions are shaped like the env's."""
        eng = self.engine
        s, p = eng.state, eng.params
        assert s is not None, "reset the env before predict()"
        out = eng._outcomes
        assert out is not None
        mask = eng.action_masks()
        dtype = core.decision_type(s, p)
        act = np.where(mask.any(axis=1), np.argmax(mask, axis=1), 0)
        plan = dtype == core.DECISION_PLAN
        req = dtype == core.DECISION_REQUEST
        if plan.any():
            act[plan] = self.plan_actions(mask[plan], np.flatnonzero(plan))
        if req.any():
            act[req] = self.request_actions(out, mask[:, : p.num_options], np.flatnonzero(req))
        if eng.action_mode == "continuous":
            scores = -np.ones((eng.num_envs, p.num_actions), dtype=np.float32)
            scores[np.arange(eng.num_envs), act] = 1.0
            return (scores[0] if self.scalar else scores), None
        return (np.int64(act[0]) if self.scalar else act), None

    def plan_actions(self, mask: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Plan indices for sub-envs ``idx`` (default: the default plan)."""
        return np.full(idx.size, self.engine.params.default_plan)

    @abc.abstractmethod
    def request_actions(
        self, out: dict[str, np.ndarray], mask: np.ndarray, idx: np.ndarray
    ) -> np.ndarray:
        """Option indices for the current requests of sub-envs ``idx``.

        ``out`` holds (B, O) option outcomes; ``mask`` the (B, O) valid options.
        """


def _best(score: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Row-wise argmax of ``score`` over ``valid`` entries."""
    return np.argmax(np.where(valid, score, -np.inf), axis=1)


class RandomPolicy(Heuristic):
    """Uniform over the valid options, on plan and request decisions alike."""

    name = "random"

    def _uniform(self, mask: np.ndarray) -> np.ndarray:
        return _best(self.rng.random(mask.shape), mask)

    def plan_actions(self, mask: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return self._uniform(mask)

    def request_actions(self, out, mask, idx):  # type: ignore[no-untyped-def]
        return self._uniform(mask[idx])


class LocalOnly(Heuristic):
    """Serve every request on its own device; reject it where the device holds
    no tier of its service. Uses no uplink for requests."""

    name = "local_only"

    def request_actions(self, out, mask, idx):  # type: ignore[no-untyped-def]
        return np.where(mask[idx, 0], 0, mask.shape[1] - 1)


class GreedyUtility(Heuristic):
    """Myopic: the valid option with the best expected reward of this request
    (its exact outcome given the current queues and channels)."""

    name = "greedy_utility"

    def request_actions(self, out, mask, idx):  # type: ignore[no-untyped-def]
        return _best(out["reward"][idx], mask[idx])


class NearestEdge(Heuristic):
    """The valid edge with the strongest channel to the device; where no edge
    is valid, the best remaining option by expected reward."""

    name = "nearest_edge"

    def request_actions(self, out, mask, idx):  # type: ignore[no-untyped-def]
        p = self.engine.params
        E = p.num_edges
        m = mask[idx]
        edge_valid = m[:, 1 : 1 + E]
        strongest = 1 + np.argmax(np.where(edge_valid, out["gain_db"][idx], -np.inf), axis=1)
        fallback = _best(out["reward"][idx], m)
        return np.where(edge_valid.any(axis=1), strongest, fallback)


class CloudOnly(Heuristic):
    """Send every request to the cloud; a private one (which may not leave its
    edge) goes to the best valid non-cloud option by expected reward."""

    name = "cloud_only"

    def request_actions(self, out, mask, idx):  # type: ignore[no-untyped-def]
        O = mask.shape[1]
        m = mask[idx]
        return np.where(m[:, O - 2], O - 2, _best(out["reward"][idx], m))


class LeastLoaded(Heuristic):
    """The valid option with the smallest expected completion time (reject
    only where nothing else is valid)."""

    name = "least_loaded"

    def request_actions(self, out, mask, idx):  # type: ignore[no-untyped-def]
        m = mask[idx].copy()
        m[:, -1] &= ~m[:, :-1].any(axis=1)
        return _best(-out["latency_s"][idx], m)


class Matching(Heuristic):
    """At a slot's first request decision, assign all of the slot's requests
    at once to (node, capacity slot) pairs by the Hungarian method on the
    expected-utility graph, then replay the assignment.

    Utility of request r on option o's k-th capacity slot: its expected
    reward minus ``w_latency`` times the extra wait that k earlier requests
    of the slot on the same node cause (k // servers x their mean work), with
    ``edge_servers`` per wave on an edge and ``cloud_servers`` in the cloud;
    local (each request's own device) and reject add no wait.
    """

    name = "matching"

    def __init__(self, env: Any, seed: int = 0) -> None:
        super().__init__(env, seed)
        self._plan: np.ndarray | None = None

    def request_actions(self, out, mask, idx):  # type: ignore[no-untyped-def]
        eng, p = self.engine, self.engine.params
        s = eng.state
        assert s is not None
        B, _O = eng.num_envs, p.num_options
        if self._plan is None or self._plan.shape != (B, p.max_new_requests):
            self._plan = np.full((B, p.max_new_requests), -1, dtype=np.int64)
        first = idx[s.req_ptr[idx] == 0]
        if first.size:
            self._assign(first)
        planned = self._plan[idx, np.minimum(s.req_ptr[idx], p.max_new_requests - 1)]
        ok = (planned >= 0) & mask[idx, np.maximum(planned, 0)]
        return np.where(ok, planned, _best(out["reward"][idx], mask[idx]))

    def _assign(self, envs: np.ndarray) -> None:
        eng, p = self.engine, self.engine.params
        s = eng.state
        assert s is not None and self._plan is not None
        O = p.num_options
        n_max = int(s.n_req[envs].max())
        saved = s.req_ptr.copy()
        rewards = np.zeros((eng.num_envs, n_max, O))
        valid = np.zeros((eng.num_envs, n_max, O), dtype=bool)
        work = np.zeros((eng.num_envs, n_max, O))
        try:
            for r in range(n_max):  # loop over the slot's requests, not over devices
                s.req_ptr[:] = r
                o = core.request_outcomes(s, p)
                rewards[:, r], valid[:, r] = o["reward"], o["valid"]
                E = p.num_edges
                work[:, r, 1 : 1 + E] = o["work_edge_s"] / core.compute_share(s)
                work[:, r, O - 2] = o["work_cloud_s"]
        finally:
            s.req_ptr[:] = saved
        servers = np.full(O, np.inf)  # local (each request's own device) and reject: no wait
        servers[1 : 1 + p.max_edges] = p.edge_servers
        servers[O - 2] = p.cloud_servers
        w_lat = getattr(p.reward, "w_latency", 0.0)
        for b in envs:
            n = int(s.n_req[b])
            if n == 0:
                continue
            cols_o = np.repeat(np.arange(O), n)
            cols_k = np.tile(np.arange(n), O)
            mean_work = np.where(valid[b, :n], work[b, :n], 0).sum(0) / np.maximum(
                valid[b, :n].sum(0), 1
            )
            extra = (cols_k // servers[cols_o]) * mean_work[cols_o]
            util = rewards[b, :n][:, cols_o] - w_lat * extra[None, :]
            util = np.where(valid[b, :n][:, cols_o], util, -1e9)
            rows, cols = linear_sum_assignment(util, maximize=True)
            self._plan[b, :] = -1
            self._plan[b, rows] = cols_o[cols]


HEURISTICS: dict[str, type[Heuristic]] = {
    h.name: h
    for h in (RandomPolicy, LocalOnly, NearestEdge, CloudOnly, LeastLoaded, GreedyUtility, Matching)
}
