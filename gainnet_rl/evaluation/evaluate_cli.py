"""``gainnet-evaluate RUN_DIR_OR_MODEL``: a saved policy beside every baseline.

Loads the policy (a run folder's ``best/`` model by default, a model folder,
or a ``model.zip``) and the config it was trained with, plays N evaluation
seeds with the policy and each baseline on the same episodes, and prints and
writes the mean and 95% confidence interval of every metric (CSV, JSON,
Markdown; see :mod:`gainnet_rl.evaluation.comparison`).

    gainnet-evaluate runs/2024-01-01/12-00-00_maskable_ppo_small_load1.0_seed0
    gainnet-evaluate RUN_DIR --scenario medium --episodes 30     # generalisation
    gainnet-evaluate RUN_DIR/checkpoints/step_000000500000 --load 1.5 --no-baselines
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.config import ConfigError, scenario_names
from gainnet_rl.evaluation import runs
from gainnet_rl.evaluation.runs import ModelLoadError


def _default_out(model_dir: Path, run_dir: Path, scenario: str, load: float) -> Path:
    """``RUN_DIR/eval_<scenario>_load<load>[_<model>]`` (no suffix for best/)."""
    tag = f"eval_{scenario}_load{load:g}"
    if not (model_dir.resolve().parent == run_dir.resolve() and model_dir.name == "best"):
        tag += f"_{model_dir.name}"
    return run_dir / tag


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 on a bad argument or unreadable model)."""
    ap = argparse.ArgumentParser(
        prog="gainnet-evaluate",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("path", type=Path, help="run folder, model folder or model.zip")
    ap.add_argument(
        "--model",
        choices=["best", "final"],
        default="best",
        help="which model of a run folder (default best; falls back to the other, then "
        "to the latest checkpoint)",
    )
    ap.add_argument(
        "--scenario",
        default=None,
        help=f"evaluate on this scenario instead of the training one ({scenario_names()})",
    )
    ap.add_argument("--load", type=float, default=None, help="arrival-rate multiplier (>= 0)")
    ap.add_argument("--episodes", type=int, default=None, help="evaluation seeds (>= 2)")
    ap.add_argument("--first-seed", type=int, default=None, help="first evaluation seed")
    ap.add_argument(
        "--baselines",
        nargs="*",
        default=None,
        help=f"baselines beside the policy (default: the run's; among {list(HEURISTICS)})",
    )
    ap.add_argument("--no-baselines", action="store_true", help="evaluate the policy alone")
    ap.add_argument("--out", type=Path, default=None, help="output folder")
    ap.add_argument("--device", default="auto", help="torch device (default auto)")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (default 1; 0: torch's)"
    )
    args = ap.parse_args(argv)
    if args.episodes is not None and args.episodes < 2:
        ap.error(f"--episodes={args.episodes} is invalid: must be >= 2 for a confidence interval")
    if args.first_seed is not None and args.first_seed < 0:
        ap.error(f"--first-seed={args.first_seed} is invalid: must be >= 0")
    if args.load is not None and args.load < 0:
        ap.error(f"--load={args.load} is invalid: must be >= 0")
    if args.baselines:
        unknown = [b for b in args.baselines if b not in HEURISTICS]
        if unknown:
            ap.error(f"--baselines {unknown} unknown: must be among {list(HEURISTICS)}")

    # imported here so that --help stays fast
    import torch

    from gainnet_rl.evaluation.comparison import evaluate_run

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    from gainnet_rl.envs.engine import make_params

    try:
        model_dir = runs.resolve_model_dir(args.path, args.model)
        cfg_path = runs.find_config(model_dir)
        cfg = runs.load_run_config(model_dir)
        assert cfg_path is not None
        run_dir = cfg_path.parent
        cfg.device = args.device
        params = make_params(args.scenario or cfg.scenario, args.load)
        out = args.out or _default_out(model_dir, run_dir, params.name, params.load)
        _, text = evaluate_run(
            model_dir,
            cfg,
            out_dir=out,
            scenario=args.scenario,
            load=args.load,
            episodes=args.episodes,
            first_seed=args.first_seed,
            which=args.model,
            baselines=[] if args.no_baselines else args.baselines,
        )
    except (ModelLoadError, ConfigError) as exc:
        print(f"gainnet-evaluate: {exc}", file=sys.stderr)
        return 2
    print(text)
    print(f"\nwritten: {out}/summary.json, results.csv, episodes.csv, table.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
