"""``gainnet-evaluate RUN_DIR_OR_MODEL``: a saved policy beside every baseline.

Loads the policy (a run folder's ``best/`` model by default, a model folder,
or a ``model.zip``) and the config it was trained with (for a zip saved by
plain SB3 code, without a run config: ``scenario=`` and the SB3 class and env
encodings detected from the zip, or given as ``algo=``, ``action_mode=``,
``observation=``, ``option_outcomes=``; :mod:`gainnet_rl.evaluation.sb3_zip`), plays N evaluation
seeds with the policy and each baseline on the same episodes, and prints and
writes the mean and 95% confidence interval of every metric (CSV, JSON,
Markdown; see :mod:`gainnet_rl.evaluation.comparison`). Takes Hydra
overrides (options typed in :class:`gainnet_rl.evaluation.options.EvaluateConfig`)::

    gainnet-evaluate runs/2024-01-01/12-00-00_maskable_ppo_small_load1.0_seed0
    gainnet-evaluate RUN_DIR scenario=medium episodes=30        # generalisation
    gainnet-evaluate RUN_DIR scenario.load=1.5 scenario.network.backhaul_bps=2e8
    gainnet-evaluate run=RUN_DIR/checkpoints/step_000000500000 baselines=[]
    gainnet-evaluate my_ppo.zip scenario=medium                  # plain SB3 code's model
    gainnet-evaluate -m RUN_DIR scenario=small,large scenario.load=0.5,2   # every cell, in turn
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from gainnet_rl.envs.config import ConfigError, load_scenario
from gainnet_rl.evaluation import runs
from gainnet_rl.evaluation.cli import help_text, split_args, sweep, typed_config
from gainnet_rl.evaluation.options import EvaluateConfig
from gainnet_rl.evaluation.runs import ModelLoadError


def _default_out(model_dir: Path, run_dir: Path, scenario: str, load: float) -> Path:
    """``RUN_DIR/eval_<scenario>_load<load>[_<model>]`` (no suffix for best/)."""
    tag = f"eval_{scenario}_load{load:g}"
    if not (model_dir.resolve().parent == run_dir.resolve() and model_dir.name == "best"):
        tag += f"_{model_dir.stem if model_dir.suffix == '.zip' else model_dir.name}"
    return run_dir / tag


def _split_scenario(overrides: list[str]) -> tuple[list[str], dict[str, Any], bool]:
    """(overrides for compose, ``scenario.*`` values for the run's own scenario, whether
    a packaged scenario was chosen). Without ``scenario=<name>`` the scenario keys
    apply to the scenario the run was trained on."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    chosen = any(o.split("=", 1)[0].lstrip("+") == "scenario" for o in overrides)
    if chosen:
        return overrides, {}, True
    parsed = OverridesParser.create().parse_overrides(overrides)
    rest, own = [], {}
    for o, text in zip(parsed, overrides, strict=True):
        if o.key_or_group.startswith("scenario."):
            own[o.key_or_group.removeprefix("scenario.")] = o.value()
        else:
            rest.append(text)
    return rest, own, False


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 on a bad argument or unreadable model).
    With ``-m``, one evaluation per combination of the swept values, in turn
    (the first failing one's code is returned)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        overrides, multirun, show_help = split_args(args, positional="run")
        if show_help:
            print(help_text("gainnet-evaluate", __doc__ or "", EvaluateConfig))
            return 0
        jobs = sweep(overrides) if multirun else [overrides]
        for key in ("run", "out"):
            values = {o for job in jobs for o in job if o.startswith(f"{key}=")}
            if len(values) > 1:
                raise ConfigError(
                    f"-m over {key}= is invalid: one model per call, one out folder per "
                    "evaluation (sweep the scenario, its keys and the seeds)"
                )
    except ConfigError as exc:
        print(f"gainnet-evaluate: {exc}", file=sys.stderr)
        return 2
    for job in jobs:
        if multirun:
            print(f"gainnet-evaluate: {' '.join(job)}", flush=True)
        code = _evaluate(job)
        if code:
            return code
    return 0


def _evaluate(overrides: list[str]) -> int:
    """One evaluation (one job of a sweep)."""
    try:
        compose_ov, own, chosen = _split_scenario(overrides)
        opts = typed_config("evaluate", EvaluateConfig, compose_ov)
    except ConfigError as exc:
        print(f"gainnet-evaluate: {exc}", file=sys.stderr)
        return 2

    # imported here so that --help stays fast
    import torch

    from gainnet_rl.envs.config import make_params
    from gainnet_rl.evaluation.comparison import evaluate_run

    if opts.torch_threads > 0:
        torch.set_num_threads(opts.torch_threads)
    try:
        path = Path(opts.run)
        if not path.exists():
            raise ModelLoadError(
                f"{path} does not exist: give a run folder, a model folder or a .zip"
            )
        fixed = {k: getattr(opts, k) for k in ("action_mode", "observation", "option_outcomes")}
        policy = None
        if runs.find_config(path) is None:
            # a model.zip of plain SB3 code, or copied out of a run: no run config
            from gainnet_rl.evaluation.sb3_zip import load_bare

            scenario = opts.scenario if chosen else load_scenario("small", own)
            if not chosen:
                print(
                    "gainnet-evaluate: no run config: evaluating on scenario=small "
                    "(give scenario=<name> for another)"
                )
            params = make_params(scenario)
            policy, cfg, zip_path = load_bare(path, params, opts.algo, fixed, opts.device)
            model_dir = zip_path
            tag = f"eval_{params.name}_load{params.load:g}_{zip_path.stem}"
            out = Path(opts.out) if opts.out else zip_path.parent / tag
        else:
            given = [k for k, v in {"algo": opts.algo, **fixed}.items() if v is not None]
            if given:
                raise ConfigError(
                    f"{', '.join(given)} is invalid with a run folder: the run config "
                    "says how the model was trained (these are for a bare model.zip)"
                )
            model_dir = runs.resolve_model_dir(path, opts.model)
            cfg_path = runs.find_config(model_dir)
            cfg = runs.load_run_config(model_dir)
            assert cfg_path is not None
            cfg.device = opts.device
            scenario = opts.scenario if chosen else load_scenario(cfg.scenario, own)
            params = make_params(scenario)
            out = (
                Path(opts.out)
                if opts.out
                else _default_out(model_dir, cfg_path.parent, params.name, params.load)
            )
        _, text = evaluate_run(
            model_dir,
            cfg,
            out_dir=out,
            scenario=scenario,
            episodes=opts.episodes,
            first_seed=opts.first_seed,
            which=opts.model,
            baselines=opts.baselines,
            policy=policy,
        )
    except (ModelLoadError, ConfigError) as exc:
        print(f"gainnet-evaluate: {exc}", file=sys.stderr)
        return 2
    print(text)
    print(f"\nwritten: {out}/summary.json, results.csv, episodes.csv, table.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
