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

from gainnet_rl.agents import artifacts
from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.agents.evaluation import evaluate, format_table, summarize
from gainnet_rl.envs.params import Params

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
    head = (
        f"scenario={meta.get('scenario')} load={meta.get('load'):g} episodes={len(seeds)} "
        f"(seeds {seeds[0]}..{seeds[-1]}); mean ± 95% CI half-width"
        if seeds
        else ""
    )
    lost = [n for n, ok in win.items() if not ok]
    if not win:
        verdict = ""
    elif not lost:
        verdict = f"{agent}: mean episode reward above every baseline, non-overlapping 95% CIs"
    else:
        verdict = f"{agent}: 95% CI of the reward not entirely above: {', '.join(lost)}"
    text = "\n".join([head, format_table(summary), "", verdict])
    artifacts.write_json(
        out_dir / "summary.json", {**dict(meta), "agent": agent, "summary": summary, "beats": win}
    )
    artifacts.atomic_write_text(out_dir / "table.md", text + "\n")
    artifacts.atomic_write_text(out_dir / "results.csv", _results_csv(summary))
    artifacts.atomic_write_text(out_dir / "episodes.csv", _episodes_csv(raw, seeds))
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
