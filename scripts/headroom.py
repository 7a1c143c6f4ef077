"""How much reward is there above greedy_best_plan? A hindsight lookahead probe.

For every request decision of an episode, the probe tries each valid option,
plays the rest of the episode with greedy_best_plan on a copy of the env (the
same future arrivals, channels and draws: common random numbers, since every
draw comes from counters of the episode's seed), and takes the option whose
continuation earned the most. That is one step of policy improvement over
greedy_best_plan **with hindsight** of the episode's future: no causal policy
can expect more from improving one routing decision at a time, so the gap it
finds bounds (loosely) what a learned router can gain over the heuristic on
request routing alone (the plans stay greedy_best_plan's).

    python scripts/headroom.py                       # small, load 1, 20 episodes
    python scripts/headroom.py --scenario small --load 2 --episodes 20

Prints per-episode and mean rewards of greedy_best_plan and of the probe on
the evaluation seeds (1000 on) with a paired 95% interval of the difference,
and writes them to ``--out`` (JSON) if given. Cost: (valid options) x (steps
left) env steps per request decision, about a second per small episode.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import numpy as np

from gainnet_rl.agents.baselines import FixedPlanGreedy, best_fixed_plans
from gainnet_rl.envs import core
from gainnet_rl.envs.config import make_params
from gainnet_rl.envs.gainnet_env import GainNetEnv
from gainnet_rl.io import write_json


def play_out(env: GainNetEnv, plans: np.ndarray, first: int | None) -> float:
    """Reward of ``env`` (a copy is played) from now to the episode's end:
    ``first`` (if given), then greedy routing with the fixed ``plans``."""
    env = copy.deepcopy(env)
    policy = FixedPlanGreedy(env, plans=plans)
    total, done = 0.0, False
    obs = None
    if first is not None:
        obs, r, term, trunc, _ = env.step(first)
        total, done = float(r), term or trunc
    while not done:
        a, _ = policy.predict(obs)
        obs, r, term, trunc, _ = env.step(a)
        total += float(r)
        done = term or trunc
    return total


def episode(params, plans: np.ndarray, seed: int, plan_lookahead: bool = False):  # type: ignore[no-untyped-def]
    """(greedy_best_plan's reward, the probe's reward, decisions changed);
    with ``plan_lookahead`` the plan decisions are looked ahead too (over every
    valid plan of the catalog: slow)."""
    env = GainNetEnv(params=params)
    env.reset(seed=seed)
    base = play_out(env, plans, None)
    policy = FixedPlanGreedy(env, plans=plans)
    total, done, changed, obs = 0.0, False, 0, None
    while not done:
        s, p = env.engine.state, params
        a, _ = policy.predict(obs)
        kind = core.decision_type(s, p)[0]
        if kind == core.DECISION_REQUEST or (plan_lookahead and kind == core.DECISION_PLAN):
            n = p.num_options if kind == core.DECISION_REQUEST else p.num_plans
            valid = np.flatnonzero(env.engine.action_masks()[0, :n])
            if valid.size > 1:
                values = [play_out(env, plans, int(o)) for o in valid]
                best = int(valid[int(np.argmax(values))])
                changed += int(best != int(a))
                a = np.int64(best)
        obs, r, term, trunc, _ = env.step(a)
        total += float(r)
        done = term or trunc
    return base, total, changed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="small")
    ap.add_argument(
        "--version", type=int, choices=(1, 2), default=2, help="GainNet version (demand)"
    )
    ap.add_argument("--load", type=float, default=1.0)
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument(
        "--plans",
        action="store_true",
        help="look ahead on plan decisions too, over every valid plan (about 100x slower)",
    )
    args = ap.parse_args()
    if args.episodes < 2:
        ap.error(f"--episodes={args.episodes} is invalid: must be >= 2")
    params = make_params(args.scenario, load=args.load, version=args.version)
    plans = best_fixed_plans(params)
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.episodes):
        base, probe, changed = episode(params, plans, seed, args.plans)
        rows.append({"seed": seed, "greedy_best_plan": base, "probe": probe, "changed": changed})
        print(f"seed {seed}: greedy_best_plan {base:.3f}  probe {probe:.3f}  changed {changed}")
    b = np.array([r["greedy_best_plan"] for r in rows])
    q = np.array([r["probe"] for r in rows])
    d = q - b
    half = 1.96 * d.std(ddof=1) / np.sqrt(d.size)
    summary = {
        "scenario": args.scenario,
        "load": args.load,
        "episodes": args.episodes,
        "first_seed": args.first_seed,
        "plan_lookahead": bool(args.plans),
        "greedy_best_plan_mean": float(b.mean()),
        "probe_mean": float(q.mean()),
        "gain_mean": float(d.mean()),
        "gain_ci95": float(half),
        "gain_relative": float(d.mean() / abs(b.mean())),
    }
    print(json.dumps(summary, indent=2))
    if args.out is not None:
        write_json(args.out, {"summary": summary, "episodes": rows})


if __name__ == "__main__":
    main()
