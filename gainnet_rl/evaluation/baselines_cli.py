"""``gainnet-baselines``: evaluate every heuristic on a scenario over N seeds.

Takes the same Hydra overrides as ``gainnet-train`` (options typed in
:class:`gainnet_rl.evaluation.options.BaselinesConfig`); ``-m`` sweeps::

    gainnet-baselines scenario=small seeds=10
    gainnet-baselines scenario=vehicular scenario.load=1.5 \\
        scenario.network.ul_bandwidth_hz=1e7 policies=[greedy_utility] seeds=20 out=table.json
    gainnet-baselines -m scenario=small,medium,large,medical,vehicular \\
        scenario.load=0.5,1,2 seeds=20 out=docs/results/baselines/baselines.json

Prints one table per job (scenario, load): mean ± 95% CI half-width per
policy and metric, over the same evaluation seeds. ``out=`` writes the
summaries as JSON ({"runs": [{"scenario", "load", "seeds", "overrides",
"summary": policy -> metric -> mean, ci_low, ci_high, ...}]}; a single job
also keeps the top-level "scenario", "load", "seeds" and "summary" keys) and
the tables beside it (same name, ``.md``).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.envs.config import ConfigError, make_params
from gainnet_rl.evaluation.cli import help_text, split_args, sweep, typed_config
from gainnet_rl.evaluation.options import BaselinesConfig
from gainnet_rl.evaluation.rollout import evaluate
from gainnet_rl.evaluation.tables import episodes_header, format_table, summarize
from gainnet_rl.io import atomic_write_text, write_json


def run(scenario: Any, seeds: list[int], policies: list[str]) -> dict[str, Any]:
    """Summaries of every policy on one scenario (a name or a composed mapping)."""
    params = make_params(scenario)
    rows = {}
    for name in policies:
        cls = HEURISTICS[name]
        rows[name] = summarize(evaluate(lambda env, c=cls: c(env, seed=0), params, seeds))
    return {
        "version": params.version,
        "scenario": params.name,
        "load": params.load,
        "seeds": seeds,
        "summary": rows,
    }


def main(argv: list[str] | None = None) -> int:
    """Print (and optionally write) the baseline tables. Returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    results, texts, outs = [], [], set()
    try:
        overrides, multirun, show_help = split_args(args)
        if show_help:
            print(help_text("gainnet-baselines", __doc__ or "", BaselinesConfig))
            return 0
        jobs = sweep(overrides) if multirun else [overrides]
        configs = [typed_config("baselines", BaselinesConfig, job) for job in jobs]
        outs = {c.out for c in configs}
        if len(outs) > 1:
            raise ConfigError(f"out={sorted(map(str, outs))} is invalid: one file for the sweep")
        for job, opts in zip(jobs, configs, strict=True):
            seeds = list(range(opts.first_seed, opts.first_seed + opts.seeds))
            r = run(opts.scenario, seeds, list(opts.policies))
            r["overrides"] = job
            results.append(r)
            text = episodes_header(r) + "\n" + format_table(r["summary"])
            texts.append(text)
            print(text, flush=True)
            print()
    except ConfigError as exc:
        print(f"gainnet-baselines: {exc}", file=sys.stderr)
        return 2
    out = next(iter(outs))
    if out is not None:
        data: dict[str, Any] = {"runs": results}
        if len(results) == 1:
            data.update(results[0])
        write_json(Path(out), data)
        command = shlex.join(["gainnet-baselines", *args])
        atomic_write_text(
            Path(out).with_suffix(".md"), f"`{command}`\n\n" + "\n\n".join(texts) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
