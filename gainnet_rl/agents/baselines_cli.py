"""``gainnet-baselines``: evaluate every heuristic on a scenario and load over N seeds."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.agents.evaluation import evaluate, format_table, summarize
from gainnet_rl.config import ConfigError, scenario_names
from gainnet_rl.envs.engine import make_params


def main(argv: list[str] | None = None) -> int:
    """Print (and optionally write) the baseline table. Returns the exit code."""
    ap = argparse.ArgumentParser(prog="gainnet-baselines", description=__doc__)
    ap.add_argument("--scenario", default="small", help=f"one of {scenario_names()}")
    ap.add_argument("--load", type=float, default=None, help="arrival multiplier (>= 0)")
    ap.add_argument("--seeds", type=int, default=10, help="episodes (seeds 0..N-1), >= 2")
    ap.add_argument(
        "--first-seed",
        type=int,
        default=1000,
        help="first evaluation seed (default 1000, apart from training seeds)",
    )
    ap.add_argument(
        "--policies", nargs="*", default=list(HEURISTICS), help=f"subset of {list(HEURISTICS)}"
    )
    ap.add_argument("--out", type=Path, default=None, help="write the summary as JSON here")
    args = ap.parse_args(argv)
    if args.seeds < 2:
        ap.error(f"--seeds={args.seeds} is invalid: must be >= 2 for a confidence interval")
    unknown = [p for p in args.policies if p not in HEURISTICS]
    if unknown:
        ap.error(f"--policies {unknown} unknown: must be among {list(HEURISTICS)}")
    try:
        params = make_params(args.scenario, args.load)
    except ConfigError as exc:
        print(f"gainnet-baselines: {exc}", file=sys.stderr)
        return 2
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    rows = {}
    for name in args.policies:
        cls = HEURISTICS[name]
        rows[name] = summarize(evaluate(lambda env, c=cls: c(env, seed=0), params, seeds))
    print(
        f"scenario={params.name} load={params.load:g} episodes={args.seeds} "
        f"(seeds {seeds[0]}..{seeds[-1]}); mean ± 95% CI half-width"
    )
    print(format_table(rows))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(args.out.suffix + ".tmp")
        tmp.write_text(
            json.dumps(
                {"scenario": params.name, "load": params.load, "seeds": seeds, "summary": rows},
                indent=2,
            )
        )
        tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
