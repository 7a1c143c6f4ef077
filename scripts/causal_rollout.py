"""Can a causal policy beat greedy_best_plan? A rollout probe.

greedy_best_plan holds one plan per edge for the whole episode (the best
fixed plans of an offline search) and routes every request greedily. The
hindsight probe (``scripts/headroom.py``) finds +7% above it on small at
load 1 by routing, and +18% by choosing plans too, with the episode's own
future in view, which no policy has. This probe asks what a **causal**
policy gets. At every decision it improves on (``--decisions``: the plan
decisions, the request decisions, or both) it plays each valid option against
``--futures`` K futures sampled afresh: the current state (queues, positions,
channels, knowledge, tiers loading) copied, its random key replaced by keys
from the probe's own generator, never the episode's. Each continuation then
routes greedily under the plans the probe holds; a plan candidate is held
from then on. The probe takes the option whose continuations earned the most
on average, but leaves the choice it would make otherwise (greedy routing;
the plan it holds, greedy_best_plan's until a switch) only when that
option's paired advantage over it exceeds ``--z`` standard errors (every
candidate plays the same K futures: common random numbers). That is a rollout policy,
one step of policy improvement over greedy_best_plan (Bertsekas), which reads
the simulator's state and model, as the heuristics do, but not the future:
what it gains, a causal policy can gain.

    python scripts/causal_rollout.py                        # plans; small, load 1, 20 episodes
    python scripts/causal_rollout.py --decisions requests   # routing instead
    python scripts/causal_rollout.py --hindsight            # on the episode's own future (K = 1)

``--hindsight`` plays the candidates on the episode's own future instead:
the bound for this kind of choice. Prints per-episode rewards of both on the
evaluation seeds (1000 on) with a paired 95% interval of the difference, and
writes them to ``--out`` (JSON). Cost: each decision's candidates x K
continuations run to the episode's end in one batched engine, about a minute
per small episode at K = 16 (``--first-seed`` and ``--episodes`` split a run
over processes).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from gainnet_rl.agents.baselines import FixedPlanGreedy, best_fixed_plans, shared_plan_scores
from gainnet_rl.envs import core
from gainnet_rl.envs.config import make_params
from gainnet_rl.envs.engine import Engine
from gainnet_rl.envs.params import Params
from gainnet_rl.evaluation.tables import summarize
from gainnet_rl.io import atomic_write_text, write_json

DECISIONS = ("plans", "requests", "both")


class _Holder:
    """The minimal env a heuristic binds to: an object holding an engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine


def continuation_rewards(
    state: core.State,
    params: Params,
    tables: np.ndarray,
    keys: np.ndarray,
    first: np.ndarray | None = None,
    horizon_slots: int | None = None,
) -> np.ndarray:
    """Reward from ``state`` (B = 1) to the episode's end of each (plan
    table, key) continuation, with greedy routing under that table.

    Args:
        state: the current state, one sub-env.
        params: the scenario.
        tables: (N, E) plans per edge each continuation holds.
        keys: (N,) uint64 random keys of the continuations' futures (the
            episode's own key replays its future).
        first: (N,) first action of each continuation (None: its policy's).
        horizon_slots: stop each continuation once it has advanced this many
            slots past the state's (None: at the episode's end).

    Returns:
        (N,) reward summed over the continuation's steps (reward units).
    """
    n = len(tables)
    stop = None if horizon_slots is None else int(state.slot[0]) + horizon_slots
    eng = Engine(params, n)
    rows = core.take(state, np.zeros(n, dtype=np.int64))
    rows.key[:] = keys
    eng.load_state(rows)
    policy = FixedPlanGreedy(_Holder(eng), plans=tables)
    total = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        act = first if first is not None else policy.predict(None)[0]
        first = None
        reward, truncated, _ = eng.step(act)
        total += np.where(alive, reward, 0.0)
        if stop is not None:
            truncated = truncated | (eng.state.slot >= stop)
        done = alive & truncated
        alive &= ~truncated
        if done.any() and alive.any():  # finished rows restart so the batch keeps stepping
            eng.reset([0] * int(done.sum()), np.flatnonzero(done))
    return total


def _choose(value: np.ndarray, valid: np.ndarray, incumbent: int, z: float) -> int:
    """The valid option with the best mean continuation (rows of ``value``,
    (options, K)), or ``incumbent`` unless that option's paired advantage
    over it exceeds z standard errors."""
    best = int(valid[int(np.argmax(value.mean(axis=1)))])
    if incumbent not in valid or best == incumbent:
        return best
    diff = value[valid == best][0] - value[valid == incumbent][0]
    k = diff.size
    se = diff.std(ddof=1) / np.sqrt(k) if k > 1 else 0.0
    return best if diff.mean() > z * se else incumbent


def episode(
    params: Params,
    base: np.ndarray,
    seed: int,
    futures: int,
    hindsight: bool,
    z: float = 2.0,
    decisions: str = "plans",
    plan_pool: np.ndarray | None = None,
    horizon_slots: int | None = None,
) -> dict[str, Any]:
    """One evaluation episode on ``seed``: the reward of greedy routing under
    the fixed plans ``base`` (E,) and of the rollout policy improving on it,
    and which decisions the rollout changed. ``plan_pool``: the plans a plan
    decision may pick besides the one held (None: every valid plan);
    ``horizon_slots``: how far each continuation looks (None: to the end)."""
    if decisions not in DECISIONS:
        raise ValueError(f"decisions={decisions!r} is invalid: must be one of {list(DECISIONS)}")
    eng = Engine(params, 1)
    eng.reset([seed])
    # the reference plays a copy of the same start on the episode's own key
    greedy = float(continuation_rewards(eng.state, params, base[None], eng.state.key.copy())[0])
    held = base.copy()
    policy = FixedPlanGreedy(_Holder(eng), plans=held[None])
    gen = np.random.default_rng([seed, 7_919])
    k = 1 if hindsight else futures
    total, truncated = 0.0, np.zeros(1, dtype=bool)
    count = {"plan_decisions": 0, "plans_changed": 0, "request_decisions": 0, "requests_changed": 0}
    switches: list[dict[str, Any]] = []
    while not truncated[0]:
        s = eng.state
        kind = core.decision_type(s, params)[0]
        act = int(policy.predict(None)[0][0])
        is_plan = kind == core.DECISION_PLAN and decisions in ("plans", "both")
        is_req = kind == core.DECISION_REQUEST and decisions in ("requests", "both")
        n_opt = params.num_plans if kind == core.DECISION_PLAN else params.num_options
        valid = np.flatnonzero(eng.action_masks()[0, :n_opt])
        if is_plan and plan_pool is not None:
            valid = valid[np.isin(valid, plan_pool) | (valid == act)]
        if (is_plan or is_req) and valid.size > 1:
            keys = (
                s.key.copy()
                if hindsight
                else gen.integers(0, 2**63, size=k, dtype=np.int64).astype(np.uint64)
            )
            tables = np.tile(held, (valid.size * k, 1))
            first = np.repeat(valid, k)
            if is_plan:
                e = int(s.plan_ptr[0])
                tables[:, e] = first
            value = continuation_rewards(
                s, params, tables, np.tile(keys, valid.size), first, horizon_slots
            )
            best = _choose(value.reshape(valid.size, k), valid, act, z)
            name = "plan" if is_plan else "request"
            count[f"{name}_decisions"] += 1
            if best != act:
                count[f"{name}s_changed"] += 1
                switches.append(
                    {
                        "slot": int(s.slot[0]),
                        "kind": name,
                        "from": params.plan_name(act) if is_plan else act,
                        "to": params.plan_name(best) if is_plan else best,
                    }
                )
            if is_plan:
                held[e] = best
                policy.plans[0, e] = best
            act = best
        reward, truncated, _ = eng.step(np.array([act]))
        total += float(reward[0])
    return {
        "seed": seed,
        "greedy_best_plan": greedy,
        "rollout": total,
        **count,
        "switches": switches,
    }


def table(folder: Path, grid_csv: Path | None) -> str:
    """A markdown table of every ``*.json`` run in ``folder``: runs of the same
    cell and settings (split over processes by ``--first-seed``) are pooled;
    the gain is the mean paired difference with its Student-t 95% interval;
    with ``grid_csv`` (``docs/results/grid/grid.csv``), the default agent's
    verdict in that cell beside it."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.json")):
        run = json.loads(path.read_text())
        sm = run["summary"]
        ov = tuple(sm.get("overrides", []))
        # v2 runs name their version, plan pool and look-ahead; v1's runs predate them
        look = (sm.get("candidates", 0), sm.get("horizon_s", 0.0))
        key = (
            sm["scenario"],
            sm["load"],
            sm["decisions"],
            sm["hindsight"],
            sm["futures"],
            sm["z"],
            ov,
            sm.get("version", 1),
            look,
        )
        groups.setdefault(key, []).extend(run["episodes"])
    if not groups:
        raise SystemExit(f"{folder} holds no causal_rollout.py results (*.json)")
    verdicts: dict[tuple[str, float], str] = {}
    if grid_csv is not None:
        with grid_csv.open() as f:
            for r in csv.DictReader(f):
                if r["agent"] == "maskable_ppo":
                    verdicts[(r["scenario"], float(r["load"]))] = r["verdict"]
    order = {"small": 0, "medium": 1, "large": 2}
    versions = sorted({k[7] for k in groups})
    lines = [
        "Rollout over greedy_best_plan (scripts/causal_rollout.py): mean paired gain per episode "
        "[Student-t 95% CI] on the evaluation seeds (1000 on).",
        *(
            [f"GainNet-v{'/v'.join(map(str, versions))}; the grid's verdicts are v1's only."]
            if versions != [1]
            else []
        ),
        "",
        "| scenario | load | decisions | futures | episodes | greedy_best_plan | rollout "
        "| gain [95% CI] | gain % | decisions changed | MaskablePPO in the grid |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(
        groups, key=lambda k: (k[7], order.get(k[0], 9), k[0], k[6], k[1], k[2], k[3])
    ):
        scen, load, dec, hind, fut, _, ov, version, (cands, horizon) = key
        if version != 1 or cands or horizon:  # the plan pool and look-ahead, where set
            dec += f" ({cands or 'all'} plans, {f'{horizon:g} s' if horizon else 'to the end'})"
        # a class path names its class alone: arrivals._target_=BurstyArrivals
        ov = tuple(o.rsplit(".", 1)[-1] if "_target_=" in o else o for o in ov)
        rows = groups[key]
        b = np.array([r["greedy_best_plan"] for r in rows])
        q = np.array([r["rollout"] for r in rows])
        g = summarize({"gain": q - b})["gain"]
        n_dec = sum(r["plan_decisions"] + r["request_decisions"] for r in rows)
        n_chg = sum(r["plans_changed"] + r["requests_changed"] for r in rows)
        lines.append(
            f"| {scen}{' (' + ', '.join(ov) + ')' if ov else ''} | {load:g} | {dec} "
            f"| {'hindsight' if hind else fut} | {len(rows)} "
            f"| {b.mean():.2f} | {q.mean():.2f} | {g['mean']:+.2f} [{g['ci_low']:+.2f}, "
            f"{g['ci_high']:+.2f}] | {100 * g['mean'] / abs(b.mean()):+.1f}% "
            f"| {100 * n_chg / max(1, n_dec):.1f}% "
            f"| {'' if ov or version != 1 else verdicts.get((scen, float(load)), '')} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="small")
    ap.add_argument(
        "--version", type=int, choices=(1, 2), default=2, help="GainNet version (demand)"
    )
    ap.add_argument("--load", type=float, default=1.0)
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--decisions", choices=DECISIONS, default="plans")
    ap.add_argument("--futures", type=int, default=16, help="sampled futures per candidate")
    ap.add_argument(
        "--z",
        type=float,
        default=2.0,
        help="leave greedy_best_plan's choice only when the best candidate's paired advantage "
        "over the K futures exceeds z standard errors (0: plain argmax)",
    )
    ap.add_argument(
        "--hindsight", action="store_true", help="play candidates on the episode's own future"
    )
    ap.add_argument(
        "--candidates",
        type=int,
        default=0,
        help="plan decisions choose among the plan held and the N best plans of "
        "greedy_best_plan's shared-plan search (0: every valid plan)",
    )
    ap.add_argument(
        "--horizon-s",
        type=float,
        default=0.0,
        help="each continuation looks this many simulated seconds ahead (0: to the "
        "episode's end); a shorter look is still a causal policy",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="scenario override (dotted key, YAML value), repeatable, e.g. "
        "--set arrivals._target_=gainnet_rl.envs.models.arrivals.BurstyArrivals",
    )
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument(
        "--table",
        type=Path,
        default=None,
        metavar="DIR",
        help="run nothing: write DIR/table.md from the *.json results in DIR",
    )
    ap.add_argument(
        "--grid", type=Path, default=None, help="with --table: grid.csv whose verdicts to add"
    )
    args = ap.parse_args()
    if args.table is not None:
        text = table(args.table, args.grid)
        atomic_write_text(args.table / "table.md", text)
        print(text, end="")
        return
    if args.episodes < 2:
        ap.error(f"--episodes={args.episodes} is invalid: must be >= 2")
    if args.futures < 1:
        ap.error(f"--futures={args.futures} is invalid: must be >= 1")
    if not (np.isfinite(args.z) and args.z >= 0):
        ap.error(f"--z={args.z} is invalid: must be a finite number >= 0")
    overrides = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name:
            ap.error(f"--set {item!r} is invalid: must be KEY=VALUE (e.g. arrivals.burst_factor=5)")
        overrides[name] = yaml.safe_load(value)
    if args.candidates < 0:
        ap.error(f"--candidates={args.candidates} is invalid: must be >= 0")
    if not (np.isfinite(args.horizon_s) and args.horizon_s >= 0):
        ap.error(f"--horizon-s={args.horizon_s} is invalid: must be a finite number >= 0")
    params = make_params(args.scenario, load=args.load, overrides=overrides, version=args.version)
    base = best_fixed_plans(params)
    pool = None
    if args.candidates:
        scores = shared_plan_scores(params)
        pool = np.flatnonzero(params.plan_allowed)[np.argsort(-scores, kind="stable")]
        pool = np.union1d(pool[: args.candidates], base)
    horizon = round(args.horizon_s / params.slot_s) if args.horizon_s else None
    rows = []
    t0 = time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.episodes):
        row = episode(
            params, base, seed, args.futures, args.hindsight, args.z, args.decisions, pool, horizon
        )
        rows.append(row)
        print(
            f"seed {seed}: greedy_best_plan {row['greedy_best_plan']:.3f}  "
            f"rollout {row['rollout']:.3f}  plans changed {row['plans_changed']}"
            f"/{row['plan_decisions']}  requests changed {row['requests_changed']}"
            f"/{row['request_decisions']}",
            flush=True,
        )
    b = np.array([r["greedy_best_plan"] for r in rows])
    q = np.array([r["rollout"] for r in rows])
    d = summarize({"gain": q - b})["gain"]
    summary = {
        "scenario": args.scenario,
        "load": args.load,
        "episodes": args.episodes,
        "first_seed": args.first_seed,
        "decisions": args.decisions,
        "futures": 1 if args.hindsight else args.futures,
        "hindsight": bool(args.hindsight),
        "z": args.z,
        "overrides": list(args.set),
        "version": args.version,
        "candidates": args.candidates,
        "horizon_s": args.horizon_s,
        "greedy_best_plan_plans": base.tolist(),
        "greedy_best_plan_mean": float(b.mean()),
        "rollout_mean": float(q.mean()),
        "gain_mean": d["mean"],
        "gain_ci95": d["half_width"],
        "gain_relative": d["mean"] / abs(float(b.mean())),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    for name in ("plan", "request"):
        n = sum(r[f"{name}_decisions"] for r in rows)
        summary[f"{name}s_changed_share"] = (
            float(sum(r[f"{name}s_changed"] for r in rows) / n) if n else 0.0
        )
    print(json.dumps(summary, indent=2))
    if args.out is not None:
        write_json(args.out, {"summary": summary, "episodes": rows})


if __name__ == "__main__":
    main()
