"""``gainnet-report SWEEP_DIR``: aggregate a training sweep into a CSV and plots.

Reads every run below SWEEP_DIR (a folder holding ``config.yaml`` and
``eval/episodes.csv``, as ``gainnet-train -m ...`` writes them, and any
``eval_<scenario>_load<load>/`` folders ``gainnet-evaluate`` added to it: a
generalist trained with ``env.mix=true`` is evaluated on every cell that way
and reported as ``<agent>_generalist``), pools the evaluation episodes per
(scenario, load, policy) and writes into ``SWEEP_DIR/report/`` (or ``--out``):

- ``runs.csv``: one row per run and policy (the run's own means and CIs);
- ``report.csv``: one row per scenario, load and policy: mean and 95% CI of
  each metric over the pooled episodes. The learned agent's episodes of
  every training seed are pooled; a baseline's, identical in every run of
  the same scenario and load, are counted once per evaluation seed;
- ``reward_vs_load.png``, ``deadline_met_ratio_vs_load.png``,
  ``p95_latency_s_vs_load.png``: one panel per policy (the learned agent
  first, then each baseline, same y axis), one line per network size, 95% CI
  as error bars;
- ``grid.csv`` and ``grid.md``: per (scenario, load, agent), the reward's
  interquartile mean with its stratified bootstrap 95% interval over
  training seeds x evaluation episodes (:mod:`gainnet_rl.evaluation.stats`,
  rliable), the same for the best baseline of the cell (highest IQM,
  greedy_best_plan included), the agent's probability of improvement over
  it, and the verdict: won (intervals apart, agent above), lost (apart,
  below) or tied; with the count of cells won, tied and lost.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf
from scipy.stats import trim_mean

from gainnet_rl.evaluation import stats
from gainnet_rl.evaluation.runs import CONFIG_FILE, read_json
from gainnet_rl.evaluation.tables import TABLE_METRICS, summarize
from gainnet_rl.io import atomic_write_text, save_fig, write_csv

PLOTTED = {
    "reward": "mean episode reward",
    "deadline_met_ratio": "deadline-met ratio",
    "p95_latency_s": "p95 latency (s)",
}
SIZE_ORDER = {"small": 0, "medium": 1, "large": 2}


class ReportError(RuntimeError):
    """The sweep folder holds no finished runs."""


def find_runs(sweep_dir: Path) -> list[Path]:
    """Run folders below ``sweep_dir`` with a config and a finished evaluation."""
    runs = [
        p.parent.parent
        for p in sorted(Path(sweep_dir).rglob("eval/episodes.csv"))
        if (p.parent.parent / CONFIG_FILE).is_file()
    ]
    return sorted(set(runs))


def eval_dirs(run: Path) -> list[Path]:
    """A run's evaluation folders: ``eval/`` (written by gainnet-train), then the
    ``eval_<scenario>_load<load>/`` ones of gainnet-evaluate (best/ model only)."""
    extra = [
        p.parent
        for p in sorted(run.glob("eval_*_load*/episodes.csv"))
        if p.parent.name.count("_") == 2  # not eval_<scenario>_load<load>_final
    ]
    return [run / "eval", *extra]


def _read_run(
    run: Path, folder: Path | None = None
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, str]]]:
    cfg = OmegaConf.load(run / CONFIG_FILE)
    info = {
        "run": str(run),
        "agent": str(cfg.agent.name),
        "label": str(cfg.agent.name) + ("_generalist" if cfg.get("env", {}).get("mix") else ""),
        "scenario": str(cfg.scenario.name),
        "load": float(cfg.scenario.load),
        "seed": int(cfg.seed),
    }
    folder = folder or run / "eval"
    summary = json.loads((folder / "summary.json").read_text())
    with open(folder / "episodes.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return info, summary, rows


Cell = tuple[str, float, str]  # (eval scenario, eval load, policy label)


def _cell_order(scenario: str, load: float) -> tuple[int, str, float]:
    """Sort key of a grid cell: small, medium, large first, then by load."""
    return SIZE_ORDER.get(scenario, 9), scenario, load


def aggregate(
    runs: list[Path],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[Cell, dict[str, dict[str, float]]]]:
    """(per-run rows, pooled rows, rewards): the two CSVs as lists of dicts, and
    per cell and policy the episode rewards of each training run (one row
    ``"baseline"`` for a baseline) keyed by evaluation seed."""
    per_run: list[dict[str, Any]] = []
    rewards: dict[Cell, dict[str, dict[str, float]]] = defaultdict(dict)
    pooled: dict[tuple[str, float, str], dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    seen: set[tuple[str, float, str, str]] = set()
    evaluated: set[tuple[str, str, float]] = set()
    for run, folder in ((r, d) for r in runs for d in eval_dirs(r)):
        info, summary, rows = _read_run(run, folder)
        agent = info["agent"]
        # the evaluation may have been on another scenario/load than training
        scen, load = (
            str(summary.get("scenario", info["scenario"])),
            float(summary.get("load", info["load"])),
        )
        if (info["run"], scen, load) in evaluated:
            continue  # the same cell evaluated twice (eval/ and gainnet-evaluate's)
        evaluated.add((info["run"], scen, load))
        for policy, summ in summary["summary"].items():
            name = info["label"] if policy == agent else policy
            row = {**info, "eval_scenario": scen, "eval_load": load, "policy": name}
            for m in TABLE_METRICS:
                if m in summ:
                    row[f"{m}_mean"] = summ[m]["mean"]
                    row[f"{m}_ci_low"] = summ[m]["ci_low"]
                    row[f"{m}_ci_high"] = summ[m]["ci_high"]
            per_run.append(row)
        for r in rows:
            policy = r["policy"]
            is_agent = policy == agent
            label = f"agent:{info['label']}" if is_agent else policy
            run_key = info["run"] if is_agent else "baseline"
            rewards[(scen, load, label)].setdefault(run_key, {})[r["seed"]] = float(r["reward"])
            if not is_agent:
                key = (scen, load, policy, r["seed"])
                if key in seen:
                    continue
                seen.add(key)
            for m in TABLE_METRICS:
                if m in r:
                    pooled[(scen, load, label)][m].append(float(r[m]))
    out: list[dict[str, Any]] = []
    for (scen, load, label), metrics in sorted(
        pooled.items(), key=lambda kv: (*_cell_order(kv[0][0], kv[0][1]), kv[0][2])
    ):
        summ = summarize({m: np.asarray(v) for m, v in metrics.items()})
        row: dict[str, Any] = {"scenario": scen, "load": load, "policy": label}
        row["episodes"] = int(next(iter(summ.values()))["n"])
        for m, s in summ.items():
            row[f"{m}_mean"] = s["mean"]
            row[f"{m}_ci_low"] = s["ci_low"]
            row[f"{m}_ci_high"] = s["ci_high"]
        out.append(row)
    return per_run, out, rewards


def _matrix(by_run: dict[str, dict[str, float]], seeds: list[str]) -> np.ndarray:
    """(runs, episodes) rewards on the evaluation ``seeds``, runs in name order."""
    return np.array([[by_run[r][s] for s in seeds] for r in sorted(by_run)])


def _interval(name: str, est: tuple[float, float, float]) -> dict[str, float]:
    """``{name, name_low, name_high}`` of a (point, low, high) estimate."""
    return {name: est[0], f"{name}_low": est[1], f"{name}_high": est[2]}


def _steps(by_run: dict[str, dict[str, float]]) -> dict[str, float]:
    """The fewest and most training steps of an agent's runs (their status.json;
    NaN where a run does not say)."""
    n = [read_json(Path(r) / "status.json").get("num_timesteps") for r in by_run]
    n = [float(x) for x in n if x is not None]
    return {"train_steps_min": min(n, default=np.nan), "train_steps_max": max(n, default=np.nan)}


def grid(rewards: dict[Cell, dict[str, dict[str, float]]]) -> list[dict[str, Any]]:
    """One row per (scenario, load, agent): IQM and interval of the agent and of
    the cell's best baseline, probability of improvement, verdict."""
    cells = sorted({(sc, ld) for sc, ld, _ in rewards}, key=lambda c: _cell_order(*c))
    out: list[dict[str, Any]] = []
    for sc, ld in cells:
        policies = {pol: runs for (s, l_, pol), runs in rewards.items() if (s, l_) == (sc, ld)}
        agents = sorted(p for p in policies if p.startswith("agent:"))
        bases = sorted(p for p in policies if not p.startswith("agent:"))
        if not agents or not bases:
            continue
        seeds = sorted(set.intersection(*(set(r) for v in policies.values() for r in v.values())))
        if len(seeds) < 2:
            continue
        # the best baseline by its IQM (rliable's: the 25% trimmed mean of all
        # scores); bootstrap intervals only for it and the agents
        best = max(bases, key=lambda b: trim_mean(_matrix(policies[b], seeds), 0.25, axis=None))
        est = {p: stats.iqm_interval(_matrix(policies[p], seeds)) for p in [*agents, best]}
        for a in agents:
            m = _matrix(policies[a], seeds)
            p_imp = stats.probability_of_improvement(m, _matrix(policies[best], seeds))
            out.append(
                {
                    "scenario": sc,
                    "load": ld,
                    "agent": a.removeprefix("agent:"),
                    "training_seeds": m.shape[0],
                    "episodes": len(seeds),
                    **_steps(policies[a]),
                    **_interval("agent_iqm", est[a]),
                    "best_baseline": best,
                    **_interval("best_iqm", est[best]),
                    **_interval("p_improvement", p_imp),
                    "verdict": stats.verdict(est[a], est[best]),
                }
            )
    return out


def grid_markdown(rows: list[dict[str, Any]]) -> str:
    """The grid table, with the seeds and episodes behind every number."""
    f = lambda r, k: f"{r[k]:.2f} [{r[k + '_low']:.2f}, {r[k + '_high']:.2f}]"
    lines = [
        "Reward IQM [stratified bootstrap 95% CI] over training seeds x evaluation "
        "episodes (rliable); P(improvement) of the agent over the cell's best baseline.",
        "",
        "| scenario | load | agent | seeds x episodes | training steps | agent IQM | "
        "best baseline | its IQM | P(improvement) | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lo, hi = (f"{r[k] / 1e6:.2f}" for k in ("train_steps_min", "train_steps_max"))
        steps = "?" if np.isnan(r["train_steps_min"]) else f"{lo}M" if lo == hi else f"{lo}-{hi}M"
        lines.append(
            f"| {r['scenario']} | {r['load']:g} | {r['agent']} | {r['training_seeds']} x "
            f"{r['episodes']} | {steps} | {f(r, 'agent_iqm')} | {r['best_baseline']} | "
            f"{f(r, 'best_iqm')} | {f(r, 'p_improvement')} | {r['verdict']} |"
        )
    for agent in sorted({r["agent"] for r in rows}):
        v = [r["verdict"] for r in rows if r["agent"] == agent]
        lines.append(
            f"\n{agent}: {len(v)} cells, won {v.count('won')}, tied "
            f"{sum(x.startswith('tied') for x in v)} "
            f"({v.count('tied (at or above)')} at or above), lost {v.count('lost')}."
        )
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], metric: str, path: Path) -> None:
    """One panel per policy, one line per network size, ``metric`` against load."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    policies = sorted({r["policy"] for r in rows}, key=lambda p: (not p.startswith("agent:"), p))
    sizes = sorted({r["scenario"] for r in rows}, key=lambda s: (SIZE_ORDER.get(s, 9), s))
    n = len(policies)
    cols = min(4, n)
    nrows = (n + cols - 1) // cols
    fig, axes = plt.subplots(
        nrows, cols, figsize=(3.6 * cols, 2.9 * nrows), sharey=True, squeeze=False
    )
    agent = next((p for p in policies if p.startswith("agent:")), None)
    colors = {size: f"C{i}" for i, size in enumerate(sizes)}

    def series(policy: str, size: str) -> tuple[np.ndarray, ...] | None:
        pts = sorted(
            (r["load"], r[f"{metric}_mean"], r[f"{metric}_ci_low"], r[f"{metric}_ci_high"])
            for r in rows
            if r["policy"] == policy and r["scenario"] == size and f"{metric}_mean" in r
        )
        return tuple(np.array(v, dtype=float) for v in zip(*pts, strict=True)) if pts else None

    for ax, policy in zip(axes.flat, policies, strict=False):
        for size in sizes:
            pts = series(policy, size)
            if pts is None:
                continue
            x, y, lo, hi = pts
            err = np.nan_to_num(np.stack([y - lo, hi - y]), nan=0.0)
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, color=colors[size], label=size)
            # the learned agent beside each baseline: its line, dashed
            ref = series(agent, size) if agent and policy != agent else None
            if ref is not None:
                ax.plot(ref[0], ref[1], ls="--", color=colors[size], alpha=0.45)
        title = policy.replace("agent:", "agent: ")
        ax.set_title(title, fontweight="bold" if policy.startswith("agent:") else "normal")
        ax.set_xlabel("load")
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel(PLOTTED.get(metric, metric))
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    axes.flat[0].legend(title="network", fontsize=8)
    if agent and n > 1:
        axes.flat[1].plot([], [], ls="--", color="gray", alpha=0.6, label="agent (dashed)")
        axes.flat[1].legend(fontsize=8)
    fig.suptitle(f"{PLOTTED.get(metric, metric)} against load (95% CI)")
    save_fig(fig, path)


def report(sweep_dir: Path, out_dir: Path | None = None) -> dict[str, Path]:
    """Write the report files; returns {name: path}. Raises ReportError if no run is found."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ReportError(f"{sweep_dir} is not a folder")
    runs = find_runs(sweep_dir)
    if not runs:
        raise ReportError(
            f"no finished run below {sweep_dir} (a run folder has config.yaml and "
            "eval/episodes.csv, written when gainnet-train finishes)"
        )
    out_dir = Path(out_dir) if out_dir else sweep_dir / "report"
    per_run, pooled, rewards = aggregate(runs)
    files = {
        "runs.csv": out_dir / "runs.csv",
        "report.csv": out_dir / "report.csv",
        "grid.csv": out_dir / "grid.csv",
        "grid.md": out_dir / "grid.md",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(files["runs.csv"], per_run)
    write_csv(files["report.csv"], pooled)
    cells = grid(rewards)
    write_csv(files["grid.csv"], cells)
    atomic_write_text(files["grid.md"], grid_markdown(cells))
    for metric in PLOTTED:
        p = out_dir / f"{metric}_vs_load.png"
        plot(pooled, metric, p)
        files[p.name] = p
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="gainnet-report", description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep_dir", type=Path, help="a multirun folder (or any folder of runs)")
    ap.add_argument(
        "--out", type=Path, default=None, help="output folder (default SWEEP_DIR/report)"
    )
    args = ap.parse_args(argv)
    try:
        files = report(args.sweep_dir, args.out)
    except ReportError as exc:
        print(f"gainnet-report: {exc}", file=sys.stderr)
        return 2
    n = len(find_runs(args.sweep_dir))
    print(f"gainnet-report: {n} runs aggregated")
    for name, path in files.items():
        print(f"  {name}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
