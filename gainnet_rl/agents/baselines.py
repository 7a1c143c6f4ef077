"""Heuristic orchestration policies (SYSTEM_MODEL section 11).

Every heuristic has the stable-baselines3 ``predict`` signature, so the one
evaluation function (:func:`gainnet_rl.evaluation.rollout.evaluate`) runs
heuristics and learned agents alike. Heuristics **read the simulator's
state** (queues, channels, the exact outcome of each option for the current
request, as computed by :func:`gainnet_rl.envs.core.request_outcomes`), which
an orchestrator that monitors its network could know; they are bound to an
env (scalar or vector) when built.

On plan (frame) decisions every heuristic but ``random`` and
``greedy_best_plan`` and ``adaptive_plan`` holds the scenario's default plan: the
medium tiers of the most requested services that fit, the middle fine-tuning
and sensing levels (``Params.default_plan``). ``greedy_best_plan`` holds, per
edge, the fixed plan under which greedy routing did best on search seeds
disjoint from the evaluation seeds (SYSTEM_MODEL sec. 12.8); ``adaptive_plan``
re-chooses each edge's plan every frame from the demand history the agent
observes, by a table searched the same way (sec. 13.4).
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from gainnet_rl.agents.view import SimulatorView
from gainnet_rl.envs import core
from gainnet_rl.evaluation.rollout import evaluate


class Heuristic(abc.ABC):
    """Base class: a policy reading the state of the env it is bound to.

    Args:
        env: any env a learned policy runs on: a GainNet env, scalar or vector
            (wrappers allowed), the SB3 adapter, or an SB3 / Gymnasium vector env
            of GainNet envs (:class:`gainnet_rl.agents.view.SimulatorView`).
        seed: seed of the policy's own randomness (``random`` only).
    """

    name: str = "heuristic"

    def __init__(self, env: Any, seed: int = 0) -> None:
        self.view = SimulatorView(env)
        self.engine, self.scalar = self.view.engine, self.view.scalar
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
        self.view.refresh()
        eng = self.engine
        s, p = eng.state, eng.params
        assert s is not None, "reset the env before predict()"
        out = eng.outcomes()
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
        """Plan indices for sub-envs ``idx`` (``mask``: their valid plans):
        the default plan, or the current one while the default does not fit
        beside the streams running on the edge."""
        return self._or_current(np.full(idx.size, self.engine.params.default_plan), mask, idx)

    def _or_current(self, plans: np.ndarray, mask: np.ndarray, idx: np.ndarray) -> np.ndarray:
        s = self.engine.state
        assert s is not None
        current = s.plan[idx, np.minimum(s.plan_ptr[idx], self.engine.params.num_edges - 1)]
        return np.where(mask[np.arange(idx.size), plans], plans, current)

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


class NearestEdge(Heuristic):
    """Weight-free: the valid edge with the strongest channel to the device
    among those that deliver within the deadline; else the cloud, else the
    device, if it delivers in time; else reject. It never reads the reward,
    which is why the reward weights are calibrated on it (sec. 12.6)."""

    name = "nearest_edge"

    def request_actions(self, out, mask, idx):  # type: ignore[no-untyped-def]
        p = self.engine.params
        E, O = p.num_edges, p.num_options
        m = mask[idx] & ~out["dropped"][idx]
        edge_ok = m[:, 1 : 1 + E]
        strongest = 1 + np.argmax(np.where(edge_ok, out["gain_db"][idx], -np.inf), axis=1)
        act = np.where(m[:, O - 2], O - 2, np.where(m[:, 0], 0, O - 1))
        return np.where(edge_ok.any(axis=1), strongest, act)


class CloudOnly(Heuristic):
    """Send every request to the cloud; one the cloud may not take (private,
    or no edge in range) goes to the best valid other option by expected reward."""

    name = "cloud_only"

    def request_actions(self, out, mask, idx):  # type: ignore[no-untyped-def]
        O = mask.shape[1]
        m = mask[idx]
        return np.where(m[:, O - 2], O - 2, _best(out["reward"][idx], m))


class LeastLoaded(Heuristic):
    """The valid option with the smallest expected completion time among those
    that deliver within the deadline; reject where none does."""

    name = "least_loaded"

    def request_actions(self, out, mask, idx):  # type: ignore[no-untyped-def]
        m = mask[idx] & ~out["dropped"][idx]
        m[:, -1] = ~m[:, :-1].any(axis=1)
        return _best(-out["latency_s"][idx], m)


class GreedyUtility(Heuristic):
    """Myopic: the valid option with the best expected reward of this request
    (its exact outcome given the current queues and channels)."""

    name = "greedy_utility"

    def request_actions(self, out, mask, idx):  # type: ignore[no-untyped-def]
        return _best(out["reward"][idx], mask[idx])


class Matching(Heuristic):
    """At a slot's first request decision, assign all of the slot's requests
    at once to (node, capacity slot) pairs by the Hungarian method on the
    expected-utility graph, then replay the assignment.

    Utility of request r on option o's k-th capacity slot: its expected
    reward minus ``w_latency`` times the extra wait that k earlier requests
    of the slot on the same node cause (k // servers x their mean work), with
    ``max_batch`` streams per wave on an edge and ``cloud_streams`` in the
    cloud; local (each request's own device) and reject add no wait.
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
                work[:, r, 1 : 1 + E] = o["work_edge_s"]
                work[:, r, O - 2] = o["work_cloud_s"]
        finally:
            s.req_ptr[:] = saved
        servers = np.full(O, np.inf)  # local (each request's own device) and reject: no wait
        servers[1 : 1 + p.max_edges] = p.max_batch
        servers[O - 2] = p.cloud_streams
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


class FixedPlanGreedy(GreedyUtility):
    """Greedy routing with a fixed plan per edge: ``plans`` (E,) for every
    sub-env, or (B, E), one row per sub-env (the plan search plays many)."""

    name = "fixed_plan_greedy"

    def __init__(self, env: Any, seed: int = 0, plans: np.ndarray | None = None) -> None:
        super().__init__(env, seed)
        p, B = self.engine.params, self.engine.num_envs
        table = np.asarray(
            plans if plans is not None else np.full(p.num_edges, p.default_plan), dtype=np.int64
        )
        if table.ndim == 1:
            table = np.broadcast_to(table, (B, p.num_edges))
        if table.shape != (B, p.num_edges):
            raise ValueError(
                f"plans has shape {table.shape}: must be ({p.num_edges},) or ({B}, {p.num_edges})"
            )
        if not p.plan_allowed[table].all():
            raise ValueError("plans holds a plan the scenario forbids (Params.plan_allowed)")
        self.plans = table

    def plan_actions(self, mask: np.ndarray, idx: np.ndarray) -> np.ndarray:
        s = self.engine.state
        assert s is not None
        return self._or_current(self.plans[idx, s.plan_ptr[idx]], mask, idx)


#: Seeds the greedy_best_plan search plays, disjoint from the evaluation seeds (1000 on).
PLAN_SEARCH_SEEDS = tuple(range(500, 504))
_PLAN_CACHE: list[tuple[str, Any, np.ndarray]] = []  # (scenario digest, search key, result)


def _cached(params: Any, key: Any, search: Any) -> np.ndarray:
    """A plan search's result for this scenario's content and ``key``: from the
    cache (the last 8 searches), else ``search()``'s, remembered. A copy."""
    if not key[1]:
        raise ValueError("seeds is empty: the plan search needs at least one seed")
    digest = params_digest(params)
    for cp, ck, value in _PLAN_CACHE:
        if cp == digest and ck == key:
            return value.copy()
    value = search()
    _PLAN_CACHE.append((digest, key, value.copy()))
    del _PLAN_CACHE[:-8]
    return value


def params_digest(params: Any) -> str:
    """A digest of a Params' fields (their content, not the object's identity):
    equal scenarios built twice share their cached plan search."""
    h = hashlib.sha256()
    for f in dataclasses.fields(params):
        h.update(f.name.encode())
        h.update(pickle.dumps(getattr(params, f.name), protocol=4))
    return h.hexdigest()


def shared_plan_scores(params: Any, seeds: Sequence[int] = PLAN_SEARCH_SEEDS) -> np.ndarray:
    """Mean episode reward of greedy routing on ``seeds`` with each allowed
    plan held by every edge (in the order of ``flatnonzero(plan_allowed)``),
    one batched evaluation (common random numbers). Cached per scenario content."""
    key = ("shared", tuple(int(x) for x in seeds))

    def search() -> np.ndarray:
        cand, n = np.flatnonzero(params.plan_allowed), len(key[1])
        table = np.repeat(cand, n)[:, None] * np.ones(params.num_edges, dtype=np.int64)
        res = evaluate(
            lambda env: FixedPlanGreedy(env, plans=table), params, list(key[1]) * len(cand)
        )
        return res["reward"].reshape(len(cand), n).mean(axis=1)

    return _cached(params, key, search)


def best_fixed_plans(
    params: Any, seeds: Sequence[int] = PLAN_SEARCH_SEEDS, rounds: int = 1
) -> np.ndarray:
    """The (E,) fixed plans under which greedy routing earns the most mean
    episode reward on ``seeds``: first the best plan shared by all edges, then
    ``rounds`` of coordinate ascent, edge by edge, over every allowed plan.
    Each candidate set plays in one batched evaluation on the same seeds
    (common random numbers). Cached per scenario content (:func:`params_digest`)."""

    key = ("fixed", tuple(int(x) for x in seeds), rounds)
    E, n, seeds_ = params.num_edges, len(key[1]), list(key[1])
    cand = np.flatnonzero(params.plan_allowed)

    def best(table: np.ndarray) -> int:
        # sub-env c * n + i plays candidate row c on seed i
        res = evaluate(lambda env: FixedPlanGreedy(env, plans=table), params, seeds_ * len(cand))
        return int(cand[np.argmax(res["reward"].reshape(len(cand), n).mean(axis=1))])

    def search() -> np.ndarray:
        plans = np.full(E, cand[np.argmax(shared_plan_scores(params, key[1]))])
        for _ in range(rounds):
            for e in range(E):
                table = np.tile(plans, (len(cand) * n, 1))
                table[:, e] = np.repeat(cand, n)
                plans[e] = best(table)
        return plans

    return _cached(params, key, search)


class GreedyBestPlan(FixedPlanGreedy):
    """Greedy routing with the best fixed plan per edge (SYSTEM_MODEL sec.
    12.8), found by :func:`best_fixed_plans` on :data:`PLAN_SEARCH_SEEDS`
    (disjoint from the evaluation seeds). A learned policy that only learned
    a good static plan does not beat it."""

    name = "greedy_best_plan"

    def __init__(self, env: Any, seed: int = 0) -> None:
        super().__init__(env, seed, best_fixed_plans(SimulatorView(env).engine.params))


#: Seeds the adaptive_plan search plays (its demand-level table), disjoint from the
#: evaluation seeds (1000 on) and the training validation seeds (100000 on).
ADAPTIVE_SEARCH_SEEDS = tuple(range(500, 508))
#: every plan-search seed of the heuristics: evaluation windows must avoid them
SEARCH_SEEDS = tuple(sorted(set(PLAN_SEARCH_SEEDS) | set(ADAPTIVE_SEARCH_SEEDS)))


def _level_services(params: Any) -> list[int]:
    """The machine-driven services, each a bit of the demand level (none without a history)."""
    machine = [s for s, c in enumerate(params.service_arrival) if c == "machine"]
    return machine if params.demand_horizons_s else []


def demand_levels(state: Any, params: Any, idx: np.ndarray, edge: np.ndarray,
                  threshold: float, horizon: int) -> np.ndarray:  # fmt: skip
    """The demand level of edge ``edge[i]`` of sub-env ``idx[i]`` as the observation
    shows it (sec. 13.3-13.4): bit k is set when the k-th machine-driven service's
    arrivals there (the demand history's horizon ``horizon``, requests/s) exceed
    ``threshold`` times their mean at this load; 0 without a demand history (v1)."""
    level = np.zeros(idx.size, dtype=np.int64)
    mean = max(params.load, 1e-9) * params.demand_ref_hz
    for k, s in enumerate(_level_services(params)):
        high = state.demand_hz[idx, edge, s, horizon] > threshold * mean[s]
        level |= high.astype(np.int64) << k
    return level


class LevelPlanGreedy(GreedyUtility):
    """Greedy routing; at each frame, edge e holds ``table[level, e]``, the
    level being its demand level (:func:`demand_levels`). ``table`` (L, E) for
    every sub-env, or (B, L, E), one per sub-env (the search plays many)."""

    name = "level_plan_greedy"

    def __init__(
        self,
        env: Any,
        seed: int = 0,
        table: np.ndarray | None = None,
        threshold: float = 1.5,
        horizon: int = 1,
    ) -> None:
        super().__init__(env, seed)
        p, B = self.engine.params, self.engine.num_envs
        L = 2 ** len(_level_services(p))
        t = np.asarray(
            table if table is not None else np.full((L, p.num_edges), p.default_plan),
            dtype=np.int64,
        )
        t = np.broadcast_to(t, (B, *t.shape)) if t.ndim == 2 else t
        if t.shape != (B, L, p.num_edges):
            raise ValueError(f"table has shape {t.shape}: must be ({L}, E) or ({B}, {L}, E)")
        if not p.plan_allowed[t].all():
            raise ValueError("table holds a plan the scenario forbids (Params.plan_allowed)")
        H = len(p.demand_horizons_s)
        if H and not 0 <= horizon < H:
            raise ValueError(f"horizon={horizon} is invalid: must be in [0, {H - 1}]")
        self.table, self.threshold, self.horizon = t, float(threshold), int(horizon)

    def plan_actions(self, mask: np.ndarray, idx: np.ndarray) -> np.ndarray:
        s, p = self.engine.state, self.engine.params
        assert s is not None
        e = s.plan_ptr[idx]
        level = demand_levels(s, p, idx, e, self.threshold, self.horizon)
        return self._or_current(self.table[idx, level, e], mask, idx)


def adaptive_plan_table(
    params: Any,
    seeds: Sequence[int] = ADAPTIVE_SEARCH_SEEDS,
    candidates: int = 6,
    rounds: int = 1,
    threshold: float = 1.5,
    horizon: int = 1,
) -> np.ndarray:
    """The (L, E) demand-level plan table of ``adaptive_plan``: from greedy_best_plan's
    plans at every level, ``rounds`` times level by level and edge by edge (coordinate
    ascent), the best of the entry's plan, the ``candidates`` best shared plans and
    greedy_best_plan's, by greedy routing's mean reward on ``seeds`` (one batched
    evaluation per entry, common random numbers). Cached per scenario content."""
    key = ("adaptive", tuple(int(x) for x in seeds), candidates, rounds, threshold, horizon)
    E, n = params.num_edges, len(key[1])
    L = 2 ** len(_level_services(params))

    def search() -> np.ndarray:
        fixed = best_fixed_plans(params)
        table = np.broadcast_to(fixed, (L, E)).copy()
        if L == 1:  # no demand signal: greedy_best_plan's plans
            return table
        cand = np.flatnonzero(params.plan_allowed)
        cand = cand[np.argsort(-shared_plan_scores(params), kind="stable")][:candidates]
        cand = np.unique(np.concatenate([cand, fixed]))
        for _ in range(rounds):
            for lv in range(L):
                for e in range(E):
                    options = np.concatenate([[table[lv, e]], cand[cand != table[lv, e]]])
                    tables = np.repeat(np.broadcast_to(table, (len(options), L, E)), n, axis=0)
                    tables[:, lv, e] = np.repeat(options, n)
                    res = evaluate(
                        lambda env, t=tables: LevelPlanGreedy(
                            env, table=t, threshold=threshold, horizon=horizon
                        ),
                        params,
                        list(key[1]) * len(options),
                    )
                    best = int(np.argmax(res["reward"].reshape(-1, n).mean(1)))
                    table[lv, e] = options[best]
        return table

    return _cached(params, key, search)


class AdaptivePlan(LevelPlanGreedy):
    """Greedy routing with each edge's plan re-chosen every frame from the demand the
    observation shows (SYSTEM_MODEL sec. 13.4): the edge's demand level (which
    machine-driven services' arrivals over the demand history's 5 s horizon exceed
    1.5x their mean) picks its plan from a table searched by :func:`adaptive_plan_table`
    on :data:`ADAPTIVE_SEARCH_SEEDS` (disjoint from the evaluation seeds). It reads the
    demand history the agent observes, never the hidden ON/OFF states; without one
    (v1) it is greedy_best_plan."""

    name = "adaptive_plan"

    def __init__(self, env: Any, seed: int = 0) -> None:
        params = SimulatorView(env).engine.params
        super().__init__(env, seed, adaptive_plan_table(params))


HEURISTICS: dict[str, type[Heuristic]] = {
    h.name: h
    for h in (
        RandomPolicy,
        LocalOnly,
        NearestEdge,
        CloudOnly,
        LeastLoaded,
        GreedyUtility,
        Matching,
        GreedyBestPlan,
        AdaptivePlan,
    )
}
