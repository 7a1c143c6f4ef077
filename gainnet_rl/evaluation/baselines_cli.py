"""``gainnet-baselines``: evaluate every heuristic on scenarios and loads over N seeds.

    gainnet-baselines --scenario small --seeds 10
    gainnet-baselines --scenario small medium large medical vehicular --load 0.5 1 2 \\
        --seeds 20 --out docs/results/baselines/baselines.json

Prints one table per (scenario, load): mean ± 95% CI half-width per policy
and metric, over the same evaluation seeds. ``--out`` writes the summaries as
JSON ({"runs": [{"scenario", "load", "seeds", "summary": policy -> metric ->
mean, ci_low, ci_high, ...}]}; a single run also keeps the top-level
"scenario", "load", "seeds" and "summary" keys) and the tables beside it
(same name, ``.md``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gainnet_rl.agents.baselines import HEURISTICS, PLAN_SEARCH_SEEDS
from gainnet_rl.config import ConfigError, scenario_names
from gainnet_rl.envs.engine import make_params
from gainnet_rl.evaluation.rollout import evaluate
from gainnet_rl.evaluation.tables import format_table, summarize
from gainnet_rl.io import atomic_write_text, write_json


def run(scenario: str, load: float | None, seeds: list[int], policies: list[str]) -> dict[str, Any]:
    """Summaries of every policy on one scenario and load."""
    params = make_params(scenario, load)
    rows = {}
    for name in policies:
        cls = HEURISTICS[name]
        rows[name] = summarize(evaluate(lambda env, c=cls: c(env, seed=0), params, seeds))
    return {"scenario": params.name, "load": params.load, "seeds": seeds, "summary": rows}


def header(r: dict[str, Any]) -> str:
    seeds = r["seeds"]
    return (
        f"scenario={r['scenario']} load={r['load']:g} episodes={len(seeds)} "
        f"(seeds {seeds[0]}..{seeds[-1]}); mean ± 95% CI half-width"
    )


def main(argv: list[str] | None = None) -> int:
    """Print (and optionally write) the baseline tables. Returns the exit code."""
    ap = argparse.ArgumentParser(
        prog="gainnet-baselines",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--scenario", nargs="+", default=["small"], help=f"among {scenario_names()}")
    ap.add_argument(
        "--load",
        type=float,
        nargs="*",
        default=None,
        help="offered loads (default: the scenario's)",
    )
    ap.add_argument("--seeds", type=int, default=10, help="episodes (seeds first..first+N-1), >= 2")
    ap.add_argument(
        "--first-seed",
        type=int,
        default=1000,
        help="first evaluation seed (default 1000, apart from training and plan-search seeds)",
    )
    ap.add_argument(
        "--policies", nargs="*", default=list(HEURISTICS), help=f"subset of {list(HEURISTICS)}"
    )
    ap.add_argument("--out", type=Path, default=None, help="write the summaries as JSON here")
    args = ap.parse_args(argv)
    if args.seeds < 2:
        ap.error(f"--seeds={args.seeds} is invalid: must be >= 2 for a confidence interval")
    unknown = [p for p in args.policies if p not in HEURISTICS]
    if unknown:
        ap.error(f"--policies {unknown} unknown: must be among {list(HEURISTICS)}")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    if "greedy_best_plan" in args.policies and set(seeds) & set(PLAN_SEARCH_SEEDS):
        ap.error(
            f"--first-seed={args.first_seed} overlaps greedy_best_plan's plan-search seeds "
            f"{PLAN_SEARCH_SEEDS[0]}..{PLAN_SEARCH_SEEDS[-1]}: evaluate on other seeds"
        )
    loads = args.load if args.load else [None]
    results, texts = [], []
    try:
        for scenario in args.scenario:
            for load in loads:
                r = run(scenario, load, seeds, args.policies)
                results.append(r)
                text = header(r) + "\n" + format_table(r["summary"])
                texts.append(text)
                print(text, flush=True)
                print()
    except ConfigError as exc:
        print(f"gainnet-baselines: {exc}", file=sys.stderr)
        return 2
    if args.out is not None:
        data: dict[str, Any] = {"runs": results}
        if len(results) == 1:
            data.update(results[0])
        write_json(args.out, data)
        command = "gainnet-baselines " + " ".join(argv if argv is not None else sys.argv[1:])
        atomic_write_text(
            args.out.with_suffix(".md"), f"`{command}`\n\n" + "\n\n".join(texts) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
