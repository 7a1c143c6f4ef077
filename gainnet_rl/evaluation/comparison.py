"""A learned policy beside every baseline: evaluate, summarise, write tables.

Used by ``gainnet-train`` (the run's ``eval/`` folder) and ``gainnet-evaluate``.
All policies play the same seeds through :func:`evaluate`, the one
evaluation path.

Files written by :func:`write_results` into an output folder:

- ``summary.json``: scenario, load, seeds, model, and per policy and metric
  the mean, 95% CI bounds and half-width, n; plus ``beats``: for each
  baseline, whether the agent's CI lies entirely above the baseline's;
- ``results.csv``: one row per policy, ``<metric>_mean``, ``_ci_low``,
  ``_ci_high``, ``_half_width`` columns for every metric;
- ``episodes.csv``: one row per policy and seed with every metric;
- ``table.md``: the Markdown table printed to the terminal.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.envs.config import make_params
from gainnet_rl.envs.params import Params
from gainnet_rl.evaluation import runs
from gainnet_rl.evaluation.rollout import evaluate
from gainnet_rl.evaluation.tables import episodes_header, format_table, summarize
from gainnet_rl.io import atomic_write_text, write_json

Summary = dict[str, dict[str, float]]


def compare(
    agent_name: str,
    agent: Any,
    params: Params,
    seeds: Sequence[int],
    action_mode: str,
    observation: str,
    baselines: Sequence[str],
    option_outcomes: bool = True,
) -> dict[str, dict[str, np.ndarray]]:
    """Per-episode results of the agent (an object with ``predict``) and of each
    named baseline, on the same seeds. The agent comes first."""
    unknown = [b for b in baselines if b not in HEURISTICS]
    if unknown:
        raise ValueError(f"baselines {unknown} unknown: must be among {list(HEURISTICS)}")
    raw = {
        agent_name: evaluate(
            lambda env: agent, params, seeds, action_mode, observation, True, option_outcomes
        )
    }
    for name in baselines:
        cls = HEURISTICS[name]
        raw[name] = evaluate(lambda env, c=cls: c(env, seed=0), params, seeds)
    return raw


def beats(summary: Mapping[str, Summary], agent: str, metric: str = "reward") -> dict[str, bool]:
    """For each other policy: does the agent's 95% CI of ``metric`` lie entirely above it?"""
    a = summary[agent][metric]
    return {
        name: bool(a["ci_low"] > s[metric]["ci_high"])
        for name, s in summary.items()
        if name != agent
    }


def write_results(
    out_dir: Path,
    raw: Mapping[str, Mapping[str, np.ndarray]],
    meta: Mapping[str, Any],
    agent: str,
) -> tuple[dict[str, Summary], str]:
    """Summarise ``raw`` and write summary.json, results.csv, episodes.csv and
    table.md into ``out_dir``. Returns (summary, printable text)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {name: summarize(res) for name, res in raw.items()}
    win = beats(summary, agent)
    seeds = list(meta.get("seeds", []))
    head = episodes_header(meta) if seeds else ""
    lost = [n for n, ok in win.items() if not ok]
    if not win:
        verdict = ""
    elif not lost:
        verdict = f"{agent}: mean episode reward above every baseline, non-overlapping 95% CIs"
    else:
        verdict = f"{agent}: 95% CI of the reward not entirely above: {', '.join(lost)}"
    text = "\n".join([head, format_table(summary), "", verdict])
    write_json(
        out_dir / "summary.json", {**dict(meta), "agent": agent, "summary": summary, "beats": win}
    )
    atomic_write_text(out_dir / "table.md", text + "\n")
    atomic_write_text(out_dir / "results.csv", _results_csv(summary))
    atomic_write_text(out_dir / "episodes.csv", _episodes_csv(raw, seeds))
    return summary, text


def _results_csv(summary: Mapping[str, Summary]) -> str:
    metrics = list(next(iter(summary.values())).keys())
    cols = ["policy", "n"] + [
        f"{m}_{s}" for m in metrics for s in ("mean", "ci_low", "ci_high", "half_width")
    ]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols)
    for name, summ in summary.items():
        row: list[Any] = [name, int(next(iter(summ.values()))["n"])]
        for m in metrics:
            row += [summ[m][s] for s in ("mean", "ci_low", "ci_high", "half_width")]
        w.writerow(row)
    return buf.getvalue()


def _episodes_csv(raw: Mapping[str, Mapping[str, np.ndarray]], seeds: Sequence[int]) -> str:
    metrics = list(next(iter(raw.values())).keys())
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["policy", "seed", *metrics])
    for name, res in raw.items():
        for i, seed in enumerate(seeds):
            w.writerow([name, seed, *(float(res[m][i]) for m in metrics)])
    return buf.getvalue()


def evaluate_run(
    run_dir: Path,
    cfg: DictConfig,
    out_dir: Path | None = None,
    scenario: Any = None,
    load: float | None = None,
    episodes: int | None = None,
    first_seed: int | None = None,
    which: str | None = None,
    baselines: Sequence[str] | None = None,
    policy: runs.LearnedPolicy | None = None,
) -> tuple[dict[str, Any], str]:
    """Evaluate the run's saved policy beside the baselines and write the tables.

    Defaults come from ``cfg.evaluate``; ``scenario``/``load`` evaluate on
    another network or load (generalisation); ``policy``: an already loaded
    one (``run_dir`` then names its model). Returns (summary, text).
    """
    which = which or str(cfg.evaluate.model)
    if policy is None:
        policy, _, model_dir = runs.load_policy(run_dir, which, device=str(cfg.device))
    else:
        model_dir = Path(run_dir)
    if scenario is None:
        params = make_params(cfg.scenario, load)
    else:
        params = make_params(scenario, load)
    episodes = int(episodes if episodes is not None else cfg.evaluate.episodes)
    first = int(first_seed if first_seed is not None else cfg.evaluate.first_seed)
    seeds = list(range(first, first + episodes))
    base = list(baselines if baselines is not None else cfg.evaluate.baselines)
    name = str(cfg.agent.name)
    raw = compare(
        name,
        policy,
        params,
        seeds,
        cfg.agent.action_mode,
        cfg.env.observation,
        base,
        bool(cfg.env.get("option_outcomes", True)),
    )
    meta = {
        "version": params.version,
        "scenario": params.name,
        "load": params.load,
        "trained_on": (
            {"scenario": cfg.scenario.name, "load": cfg.scenario.load}
            if "name" in cfg.scenario
            else None
        ),
        "seeds": seeds,
        "model": str(model_dir),
        "num_timesteps": int(policy.model.num_timesteps),
    }
    out = out_dir or (Path(run_dir) / "eval")
    return write_results(out, raw, meta, name)
