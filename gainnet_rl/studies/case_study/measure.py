"""The study's policies (trained agents and baselines) and what it measures of them.

Every number goes through the one evaluation path
(:func:`gainnet_rl.evaluation.rollout.evaluate` and ``trace``). A setting's
number (a policy at a load, a cost weight, in the table) is the interquartile
mean over training seeds x evaluation episodes with rliable's stratified
bootstrap 95% interval (:func:`cell_stat`, as the grid's report), which lies
inside the scores' range (a ratio's inside [0, 1]); curves over training
steps or frames are mean and Student-t 95% interval (:func:`stat`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.envs.config import make_params
from gainnet_rl.envs.params import Params
from gainnet_rl.evaluation import runs as run_files
from gainnet_rl.evaluation.rollout import evaluate, trace
from gainnet_rl.evaluation.stats import iqm_interval
from gainnet_rl.evaluation.tables import summarize


@dataclass
class Policy:
    """A policy of the study: a trained agent (one seed) or a baseline."""

    name: str  # agent name or baseline name
    kind: str  # "agent" or "baseline"
    make: Callable[[Any], Any]  # evaluate()'s make_policy
    action_mode: str = "discrete"
    observation: str = "flat"
    option_outcomes: bool = True
    seed: int | None = None  # training seed (agents)
    scenario: dict[str, Any] | None = None  # the scenario it was trained on (agents)

    def evaluate(self, params: Params, seeds: Sequence[int]) -> dict[str, np.ndarray]:
        return evaluate(
            self.make, params, seeds, self.action_mode, self.observation, True, self.option_outcomes
        )

    def trace(self, params: Params, seeds: Sequence[int]) -> dict[str, np.ndarray]:
        return trace(
            self.make, params, seeds, self.action_mode, self.observation, True, self.option_outcomes
        )


def load_agent(run_dir: Path) -> Policy:
    """The best model of a run folder, as a :class:`Policy`."""
    policy, cfg, _ = run_files.load_policy(run_dir, "best", device="cpu")
    scen = OmegaConf.to_container(cfg.scenario, resolve=True)
    assert isinstance(scen, dict)
    return Policy(
        str(cfg.agent.name),
        "agent",
        lambda env, p=policy: p,
        str(cfg.agent.action_mode),
        str(cfg.env.observation),
        bool(cfg.env.get("option_outcomes", True)),
        int(cfg.seed),
        scen,
    )


def baseline(name: str) -> Policy:
    cls = HEURISTICS[name]
    return Policy(name, "baseline", lambda env, c=cls: c(env, seed=0))


def stat(x: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
    """(mean, 95% CI low, high), Student t; a single value has no CI (NaN bounds)."""
    a = np.asarray(x, dtype=float)
    if a.size == 1:
        return float(a[0]), math.nan, math.nan
    s = summarize({"x": a})["x"]
    return s["mean"], s["ci_low"], s["ci_high"]


def cell_stat(per_seed: Sequence[np.ndarray]) -> tuple[float, float, float, str]:
    """(IQM, 95% low, high, what it is over) of one metric of a policy in one
    setting: ``per_seed`` holds each training seed's per-episode values (a
    baseline: one array), all on the same evaluation episodes. The IQM over
    seeds x episodes and its stratified bootstrap interval (rliable:
    :func:`gainnet_rl.evaluation.stats.iqm_interval`). Episodes with no value
    (NaN: the p95 latency of an episode that served nothing) are left out for
    every seed; fewer than 2 left: NaN bounds."""
    x = np.stack([np.asarray(a, dtype=float) for a in per_seed])
    x = x[:, np.all(np.isfinite(x), axis=0)]
    over = f"{x.shape[0]} seeds x {x.shape[1]} episodes" if len(x) > 1 else f"{x.shape[1]} episodes"
    if x.shape[1] < 2:
        return float(np.mean(x)) if x.size else math.nan, math.nan, math.nan, over
    return (*iqm_interval(x), over)


def event_conditions(params: Params) -> dict[str, list[dict[str, Any]]]:
    """The robustness conditions as scenario ``events`` (at half the episode)."""
    half_s = params.episode_slots * params.slot_s / 2
    return {
        "none": [],
        "outage": [{"kind": "outage", "edges": [0], "start_s": half_s, "end_s": None}],
        "compute_cut": [
            {
                "kind": "compute_cut",
                "edges": list(range(params.num_edges)),
                "start_s": half_s,
                "end_s": None,
                "factor": 0.5,
            }
        ],
    }


CONDITION_TITLES = {
    "none": "no event",
    "outage": "edge 0 fails",
    "compute_cut": "every edge at 50% compute",
}


def pool_traces(traces: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate traces of several policies' seeds along the episode axis."""
    return {k: np.concatenate([t[k] for t in traces]) for k in traces[0] if np.ndim(traces[0][k])}


def play_traces(
    agents: Mapping[str, Sequence[Policy]],
    baselines: Sequence[str],
    scenario: Mapping[str, Any],
    overrides: Mapping[str, Any],
    seeds: Sequence[int],
) -> dict[str, dict[str, np.ndarray]]:
    """Per-frame traces (:func:`trace`) on the scenario with ``overrides``: each
    agent's (the episodes of all its training seeds pooled) and each baseline's."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, pols in agents.items():
        out[name] = pool_traces(
            [
                p.trace(make_params(p.scenario or dict(scenario), overrides=overrides), seeds)
                for p in pols
            ]
        )
    params = make_params(dict(scenario), overrides=overrides)
    for name in baselines:
        out[name] = baseline(name).trace(params, seeds)
    return out
