"""How far has a trained policy moved from greedy_best_plan, its prior?

    python scripts/agreement.py docs/results/policies/small            # 50 episodes
    python scripts/agreement.py RUN_DIR --episodes 100 --out agreement.json

Plays the run's best model (deterministic) on the evaluation seeds (1000 on)
of its own scenario and, at every decision, asks greedy_best_plan what it
would do in the same state; prints, per decision type (plan, request), the
number of decisions and the share where the two differ, the policy's mean
episode reward, and at plan decisions the mean margin of greedy_best_plan's
plan in the policy's logits over the best other valid plan (prior logit
included: ``plan_prior_logit`` of the run's config when the plan head had
learned nothing, more when it learned to prefer that plan, less when it
learned to leave it) and the mean range of the valid plans' logits (how much
the plan head tells plans apart at all). The default agent starts from
greedy_best_plan (docs/training.md, "The default agent's prior"): a share near
0 means the trained policy acts as its prior does, so it can only tie it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from gainnet_rl.agents.baselines import GreedyBestPlan
from gainnet_rl.envs import core
from gainnet_rl.envs.config import make_params
from gainnet_rl.evaluation.rollout import play
from gainnet_rl.evaluation.runs import load_run_config
from gainnet_rl.studies.case_study.measure import load_agent

KINDS = {core.DECISION_PLAN: "plan", core.DECISION_REQUEST: "request"}


class Compare:
    """The learned policy's actions, counted against greedy_best_plan's."""

    def __init__(self, env: Any, learned: Any) -> None:
        self.env, self.learned = env, learned
        self.reference = GreedyBestPlan(env, seed=0)
        self.counts = {k: [0, 0] for k in KINDS.values()}  # [decisions, differing]
        self.calls = 0
        self.past = np.zeros(env.num_envs, dtype=bool)  # sub-envs past their one episode
        self.margins: list[np.ndarray] = []
        self.ranges: list[np.ndarray] = []  # highest minus lowest valid plan logit

    def predict(self, obs: Any, action_masks: Any = None, **kw: Any) -> tuple[np.ndarray, Any]:
        if self.calls:
            self.past |= np.asarray(kw["episode_start"], dtype=bool)
        self.calls += 1
        a, state = self.learned.predict(obs, action_masks=action_masks, **kw)
        ref, _ = self.reference.predict(obs, deterministic=True)
        engine = self.env.engine
        kinds = core.decision_type(engine.state, engine.params)
        for code, name in KINDS.items():
            at = (kinds == code) & ~self.past
            valid = action_masks[at].sum(axis=1) > 1  # a forced choice is no choice
            self.counts[name][0] += int(valid.sum())
            self.counts[name][1] += int((a[at] != ref[at])[valid].sum())
        at = (kinds == core.DECISION_PLAN) & ~self.past
        if at.any():
            self.margin(obs[at], action_masks[at], ref[at])
        return a, state

    def margin(self, obs: np.ndarray, masks: np.ndarray, ref: np.ndarray) -> None:
        """Record, per decision, the logit of plan ``ref`` minus the highest other
        valid plan's, and the range of the valid plans' logits."""
        learned = self.learned
        if learned.vecnormalize is not None:
            obs = learned.vecnormalize.normalize_obs(obs)
        policy = learned.model.policy
        with th.no_grad():
            obs_t, _ = policy.obs_to_tensor(obs)
            logits = policy.get_distribution(obs_t).distribution.logits.cpu().numpy()
        rows = np.arange(len(ref))
        own = logits[rows, ref]
        other = np.where(masks, logits, -np.inf)
        self.ranges.append(other.max(axis=1) - np.where(masks, logits, np.inf).min(axis=1))
        other[rows, ref] = -np.inf
        self.margins.append(own - other.max(axis=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path, help="a run folder (or an exported policy folder)")
    ap.add_argument("--episodes", type=int, default=50)
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.episodes < 1:
        ap.error(f"--episodes={args.episodes} is invalid: must be >= 1")
    agent = load_agent(args.run)
    if agent.action_mode != "discrete":
        ap.error(f"{args.run} is a {agent.action_mode} agent: only discrete agents compare")
    params = make_params(agent.scenario)  # the scenario as trained (config.yaml)
    seen: list[Compare] = []

    def make(env: Any) -> Compare:
        seen.append(Compare(env, agent.make(env)))
        return seen[-1]

    seeds = list(range(args.first_seed, args.first_seed + args.episodes))
    res = play(make, params, seeds, "discrete", agent.observation, True, agent.option_outcomes)
    out: dict[str, Any] = {"run": str(args.run), "episodes": args.episodes}
    out["reward_mean"] = float(res["reward"].mean())
    for name, (n, differ) in seen[0].counts.items():
        out[name] = {"decisions": n, "differ": differ, "share": differ / max(n, 1)}
    margins = np.concatenate(seen[0].margins)
    margins = margins[np.isfinite(margins)]  # an edge with one valid plan has no other
    out["plan"]["margin_mean"] = float(margins.mean())
    out["plan"]["margin_min"] = float(margins.min())
    out["plan"]["logit_range_mean"] = float(np.concatenate(seen[0].ranges).mean())
    kw = load_run_config(args.run).agent.get("policy_kwargs") or {}
    prior = kw.get("plan_prior_logit") if kw.get("plan_prior") else None
    out["plan"]["prior_logit"] = None if prior is None else float(prior)
    print(json.dumps(out, indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
