"""The trials of a ``scripts/tune.sh`` search as a table, best first.

    python scripts/tune_table.py runs/tune --out docs/results/tune

Reads every ``trial<k>/`` run folder (and ``default/``, the agent's defaults
on the same budget) of the sweep folder: the searched keys (those of
``best_params`` in the sweeper's ``optimization_results.yaml``) from
``.hydra/overrides.yaml`` and the objective, the best periodic-evaluation
reward (validation seeds) with its 95% CI half-width over the episodes, from
``evaluations.csv``. Beside them, greedy_best_plan on the same validation
episodes (the reference the objective is read against). Writes ``trials.csv``,
``trials.md`` and a copy of the sweeper's ``optimization_results.yaml`` to
``--out``.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

import yaml

from gainnet_rl.agents.baselines import GreedyBestPlan
from gainnet_rl.agents.train import best_evaluation
from gainnet_rl.envs.config import make_params
from gainnet_rl.evaluation.rollout import evaluate
from gainnet_rl.evaluation.tables import summarize


def best_eval(run: Path) -> dict[str, float]:
    """The objective and the rest of the run's :func:`best_evaluation` row."""
    row = best_evaluation(run)
    if row is None:
        raise SystemExit(f"{run}/evaluations.csv has no evaluation")
    return {
        "objective": float(row["reward_mean"]),
        "ci95": float(row["reward_ci95"]),
        "at_steps": int(row["timesteps"]),
        "deadline_met": float(row["deadline_met_ratio_mean"]),
    }


def reference(run: Path) -> tuple[float, float, str]:
    """greedy_best_plan's mean episode reward and 95% CI half-width (Student t,
    reward units, as the trials' ``evaluations.csv``) on the run's validation
    episodes, and what they are."""
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    first, n = int(cfg["train"]["eval_first_seed"]), int(cfg["train"]["eval_episodes"])
    params = make_params(cfg["scenario"])
    r = evaluate(lambda env: GreedyBestPlan(env, seed=0), params, range(first, first + n))["reward"]
    s = summarize({"reward": r})["reward"]
    return (
        s["mean"],
        s["half_width"],
        f"{params.name}, load {params.load:g}, seeds {first}-{first + n - 1}",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sweep", type=Path, help="the sweep folder (TUNE_DIR of scripts/tune.sh)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    results = args.sweep / "optimization_results.yaml"
    if not results.is_file():
        raise SystemExit(f"{results} is missing: {args.sweep} is not a finished tune.sh sweep")
    keys = list(yaml.safe_load(results.read_text())["best_params"])
    runs = sorted(args.sweep.glob("trial*"), key=lambda p: int(p.name[5:]))
    if (args.sweep / "default").is_dir():
        runs.append(args.sweep / "default")
    table = []
    for run in runs:
        overrides = yaml.safe_load((run / ".hydra/overrides.yaml").read_text())
        given = dict(o.split("=", 1) for o in overrides)
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        row: dict[str, object] = {"trial": run.name}
        for key in keys:
            node = cfg
            for part in key.split("."):
                node = node[part]
            row[key] = given.get(key, str(node))
        steps = json.loads((run / "status.json").read_text())["num_timesteps"]
        row.update(best_eval(run), steps=steps)
        table.append(row)
    table.sort(key=lambda r: -float(r["objective"]))  # type: ignore[arg-type]
    ref, ref_ci, where = reference(runs[0])
    commit = json.loads((runs[0] / "versions.json").read_text()).get("git_commit") or "unknown"
    args.out.mkdir(parents=True, exist_ok=True)
    cols = list(table[0])
    with (args.out / "trials.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(table)
    lines = [
        f"Trials of `{args.sweep}` (`bash scripts/tune.sh`, git {commit[:7]}; {where}),",
        "best first: objective = best periodic-evaluation reward (mean ± 95% CI",
        "half-width over the validation episodes; `default`: the agent's defaults on",
        "the same budget). Written by `python scripts/tune_table.py`.",
        "",
        f"greedy_best_plan on the same episodes: {ref:.3f} ± {ref_ci:.3f}.",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
    ]
    for r in table:
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in r.values()]
        lines.append("| " + " | ".join(cells) + " |")
    (args.out / "trials.md").write_text("\n".join(lines) + "\n")
    shutil.copy(results, args.out / "optimization_results.yaml")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
