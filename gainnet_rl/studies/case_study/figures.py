"""Figures a-c of a case study (learning curves, QoS against load, cost and
quality), each written with the CSV behind it; the plot styles every figure shares."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.envs.config import make_params
from gainnet_rl.envs.params import Params
from gainnet_rl.io import save_fig, write_csv
from gainnet_rl.studies.case_study.measure import Policy, baseline, cell_stat, stat
from gainnet_rl.studies.case_study.plan import CaseStudy, CaseStudyError


def grid_and_legend_right(ax: Any) -> None:
    """Light grid, and the legend outside the axes on the right."""
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


AGENT_STYLE = {"lw": 2.2, "ls": "-"}
BASELINE_STYLE = {"lw": 1.2, "ls": "--", "alpha": 0.85}


#: one colour per policy, the same in every figure
_PALETTE = {name: f"C{i}" for i, name in enumerate(["maskable_ppo", "sac", *HEURISTICS]) if i < 10}


def policy_colors(names: Sequence[str]) -> dict[str, str]:
    spare = iter(f"C{i}" for i in range(10) if f"C{i}" not in _PALETTE.values())
    return {n: _PALETTE.get(n) or next(spare, "k") for n in names}


# ------------------------------------------------------------------ a. learning curves


def _curve(run_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timesteps, reward_mean, reward_ci95) of a run's evaluations.csv."""
    path = run_dir / "evaluations.csv"
    if not path.is_file():
        raise CaseStudyError(f"{path} is missing: the run wrote no periodic evaluation")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise CaseStudyError(f"{run_dir / 'evaluations.csv'} holds no periodic evaluation")
    t = np.array([float(r["timesteps"]) for r in rows])
    order = np.argsort(t, kind="stable")
    col = lambda k: np.array([float(r[k]) for r in rows])[order]
    return t[order], col("reward_mean"), col("reward_ci95")


def learning_curves(
    out: Path,
    agent_runs: Mapping[str, Sequence[Path]],
    params: Params,
    eval_seeds: Sequence[int],
    baselines: Sequence[str],
    case: CaseStudy,
) -> None:
    """``learning_curves.png/.csv``: periodic-evaluation reward (per episode)
    against env steps; mean and 95% CI over training seeds, on the timesteps
    every seed evaluated at (linear interpolation onto a shared grid if they
    share fewer than 2); baselines on the periodic-evaluation seeds as levels."""
    rows: list[dict[str, Any]] = []
    curves: dict[str, tuple[np.ndarray, ...]] = {}
    for agent, dirs in agent_runs.items():
        data = [_curve(d) for d in dirs]
        common = data[0][0]
        for t, _, _ in data[1:]:
            common = np.intersect1d(common, t)
        if common.size < 2:
            lo = max(t[0] for t, _, _ in data)
            hi = min(t[-1] for t, _, _ in data)
            common = np.unique(np.concatenate([t for t, _, _ in data]))
            common = common[(common >= lo) & (common <= hi)]
            if common.size < 2:
                common = np.array([lo, hi]) if hi > lo else np.array([lo])
        ys = np.stack([np.interp(common, t, y) for t, y, _ in data])  # (seeds, points)
        if len(data) >= 2:
            st = [stat(ys[:, j]) for j in range(common.size)]
            mean, low, high = (np.array(v) for v in zip(*st, strict=True))
            n, over = len(data), "training seeds"
        else:  # one seed: the periodic evaluation's own CI over its episodes
            half = np.interp(common, data[0][0], data[0][2])
            mean, low, high = ys[0], ys[0] - half, ys[0] + half
            n, over = len(eval_seeds), "evaluation episodes"
        curves[agent] = (common, mean, low, high)
        for j, t in enumerate(common):
            rows.append(
                {
                    "policy": agent,
                    "kind": "agent",
                    "timesteps": int(t),
                    "n": n,
                    "ci_over": over,
                    "reward_mean": mean[j],
                    "reward_ci_low": low[j],
                    "reward_ci_high": high[j],
                }
            )
    t_all = np.concatenate([c[0] for c in curves.values()])
    x0, x1 = float(t_all.min()), float(t_all.max())
    levels: dict[str, tuple[float, float, float]] = {}
    for name in baselines:
        res = baseline(name).evaluate(params, eval_seeds)
        levels[name] = stat(res["reward"])
        for x in (x0, x1):
            rows.append(
                {
                    "policy": name,
                    "kind": "baseline",
                    "timesteps": int(x),
                    "n": len(eval_seeds),
                    "ci_over": "evaluation episodes",
                    "reward_mean": levels[name][0],
                    "reward_ci_low": levels[name][1],
                    "reward_ci_high": levels[name][2],
                }
            )
    write_csv(out / "learning_curves.csv", rows)

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.0, 4.8))
    colors = policy_colors([*curves, *levels])
    for agent, (t, m, lo, hi) in curves.items():
        ax.plot(t, m, color=colors[agent], label=f"{agent} (mean, 95% CI)", **AGENT_STYLE)
        ax.fill_between(t, lo, hi, color=colors[agent], alpha=0.2, lw=0)
    for name, (m, _, _) in levels.items():
        ax.axhline(m, color=colors[name], label=name, **BASELINE_STYLE)
    ax.set_xlabel("env steps (decisions)")
    ax.set_ylabel("mean episode reward (periodic evaluation)")
    ax.set_title(
        f"{case.name}: learning curves (seeds {eval_seeds[0]}..{eval_seeds[-1]})", fontsize=10
    )
    grid_and_legend_right(ax)
    save_fig(fig, out / "learning_curves.png")


# ------------------------------------------------------------------ b. QoS against load

QOS_METRICS = ("deadline_met_ratio", "mean_quality", "p95_latency_s")
QOS_EXTRA = ("reward", "cloud_cost_usd", "dropped")


def qos_vs_load(
    out: Path,
    agents: Mapping[str, Sequence[Policy]],
    baselines: Sequence[str],
    scenario: Mapping[str, Any],
    loads: Sequence[float],
    seeds: Sequence[int],
    case: CaseStudy,
    log: Callable[[str], None] = print,
) -> dict[tuple[str, float], list[dict[str, np.ndarray]]]:
    """``qos_vs_load.png/.csv``: deadline-met ratio, mean quality and p95
    latency (s) against the load (arrival-rate multiplier): the IQM of each
    policy over its training seeds x episodes (a baseline: its episodes) with
    the stratified bootstrap 95% interval (:func:`cell_stat`). Returns the
    raw results {(policy, load): [per seed]}."""
    raw: dict[tuple[str, float], list[dict[str, np.ndarray]]] = {}
    for load in loads:
        t0 = time.time()
        for name, pols in agents.items():
            raw[(name, load)] = [
                p.evaluate(make_params(p.scenario or dict(scenario), load), seeds) for p in pols
            ]
        params = make_params(dict(scenario), load)
        for name in baselines:
            raw[(name, load)] = [baseline(name).evaluate(params, seeds)]
        log(f"    load {load:g}: {time.time() - t0:.1f} s")
    rows: list[dict[str, Any]] = []
    for name in [*agents, *baselines]:
        kind = "agent" if name in agents else "baseline"
        for load in loads:
            res = raw[(name, load)]
            row: dict[str, Any] = {"policy": name, "kind": kind, "load": load}
            for m in (*QOS_METRICS, *QOS_EXTRA):
                iqm, lo, hi, over = cell_stat([r[m] for r in res])
                row.update({f"{m}_iqm": iqm, f"{m}_ci_low": lo, f"{m}_ci_high": hi})
            row.update(seeds=len(res), episodes=len(seeds), ci_over=over)
            rows.append(row)
    write_csv(out / "qos_vs_load.csv", rows)

    plt = pyplot()
    labels = {
        "deadline_met_ratio": "deadline-met ratio",
        "mean_quality": case.quality_label,
        "p95_latency_s": "p95 latency (s)",
    }
    fig, axes = plt.subplots(1, 3, figsize=(14.0, 4.4))
    names = [*agents, *baselines]
    colors = policy_colors(names)
    for ax, m in zip(axes, QOS_METRICS, strict=True):
        for name in names:
            pts = [r for r in rows if r["policy"] == name]
            x = np.array([r["load"] for r in pts])
            y = np.array([r[f"{m}_iqm"] for r in pts])
            err = np.nan_to_num(
                np.stack(
                    [y - [r[f"{m}_ci_low"] for r in pts], [r[f"{m}_ci_high"] for r in pts] - y]
                )
            )
            style = AGENT_STYLE if name in agents else BASELINE_STYLE
            ax.errorbar(
                x,
                y,
                yerr=np.abs(err),
                color=colors[name],
                marker="o",
                ms=3,
                capsize=2,
                label=name,
                **style,
            )
        ax.set_xlabel("load (arrival-rate multiplier)")
        ax.set_ylabel(labels[m])
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(
        f"{case.name}: QoS against load (IQM, stratified bootstrap 95% CI over training "
        f"seeds x {len(seeds)} episodes per policy and load)",
        fontsize=10,
    )
    save_fig(fig, out / "qos_vs_load.png")
    return raw


# ------------------------------------------------------------------ c. cost and quality


def pareto(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """(n,) bool: the points no other point dominates (cost <= and quality >=,
    one strictly). Lower cost and higher quality are better."""
    c, q = np.asarray(cost, float)[:, None], np.asarray(quality, float)[:, None]
    dominated = (c.T <= c) & (q.T >= q) & ((c.T < c) | (q.T > q))  # [i, j]: j dominates i
    return ~dominated.any(axis=1)


def cost_quality(
    out: Path,
    agents_at_default: Mapping[str, Sequence[Policy]],
    default_results: Mapping[str, Sequence[Mapping[str, np.ndarray]]],
    cost_agents: Sequence[tuple[float, Policy]],
    baselines: Sequence[str],
    scenario: Mapping[str, Any],
    multipliers: Sequence[float],
    seeds: Sequence[int],
    case: CaseStudy,
) -> None:
    """``cost_quality.png/.csv``: mean quality against cloud cost ($ per
    episode) as ``reward.w_cloud_cost`` varies (x the scenario's value): the
    baselines, which score options with the env's reward model, at every
    weight (one point if their results do not change with it); the agents
    trained at the default weight (one point per seed); agents trained at
    other weights (full mode). Each point: the IQM of the episodes' mean
    quality and cost, with its bootstrap 95% interval in the CSV. The Pareto
    front spans every point."""
    w0 = float(scenario["reward"]["w_cloud_cost"])
    rows: list[dict[str, Any]] = []

    def row(
        policy: str, kind: str, seed: Any, mult: float, res: Mapping[str, np.ndarray], dep: Any
    ):
        q, c = cell_stat([res["mean_quality"]]), cell_stat([res["cloud_cost_usd"]])
        rows.append(
            {
                "policy": policy,
                "kind": kind,
                "training_seed": seed,
                "w_cloud_cost_multiplier": mult,
                "w_cloud_cost": mult * w0,
                "weight_dependent": dep,
                "mean_quality_iqm": q[0],
                "mean_quality_ci_low": q[1],
                "mean_quality_ci_high": q[2],
                "cloud_cost_usd_iqm": c[0],
                "cloud_cost_usd_ci_low": c[1],
                "cloud_cost_usd_ci_high": c[2],
                "reward_mean": float(np.mean(res["reward"])),
                "episodes": len(seeds),
            }
        )

    for name in baselines:
        res = [
            baseline(name).evaluate(
                make_params(dict(scenario), overrides={"reward.w_cloud_cost": m * w0}), seeds
            )
            for m in multipliers
        ]
        same = all(
            np.array_equal(r[k], res[0][k])
            for r in res[1:]
            for k in ("mean_quality", "cloud_cost_usd")
        )
        if same:  # the weight does not change what it does: one point
            default = min(range(len(multipliers)), key=lambda i: abs(multipliers[i] - 1.0))
            row(name, "baseline", "-", multipliers[default], res[default], False)
        else:
            for m, r in zip(multipliers, res, strict=True):
                row(name, "baseline", "-", m, r, True)
    for name, pols in agents_at_default.items():
        for p, res in zip(pols, default_results[name], strict=True):
            row(name, "agent", p.seed, 1.0, res, "-")
    for mult, p in cost_agents:
        assert p.scenario is not None
        res = p.evaluate(make_params(p.scenario), seeds)
        row(f"{p.name} trained at w_cloud x{mult:g}", "agent_cost_weight", p.seed, mult, res, "-")
    front = pareto(
        np.array([r["cloud_cost_usd_iqm"] for r in rows]),
        np.array([r["mean_quality_iqm"] for r in rows]),
    )
    for r, f in zip(rows, front, strict=True):
        r["pareto"] = bool(f)
    write_csv(out / "cost_quality.csv", rows)

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.4, 5.0))
    labels = list(dict.fromkeys(r["policy"] for r in rows))
    colors = policy_colors(labels)
    markers = {"baseline": "o", "agent": "*", "agent_cost_weight": "P"}
    for label in labels:
        pts = [r for r in rows if r["policy"] == label]
        kind = pts[0]["kind"]
        x = [r["cloud_cost_usd_iqm"] for r in pts]
        y = [r["mean_quality_iqm"] for r in pts]
        text = label
        if kind == "baseline" and pts[0]["weight_dependent"] is False:
            text += " (independent of w_cloud_cost)"
        elif kind == "baseline":
            text += " (x" + ", ".join(f"{r['w_cloud_cost_multiplier']:g}" for r in pts) + ")"
        elif kind == "agent":
            text += " (default weight, per seed)"
        ls = "-" if kind == "baseline" and len(pts) > 1 else "none"
        ax.plot(
            x,
            y,
            color=colors[label],
            marker=markers[kind],
            ms=9 if kind != "baseline" else 5,
            ls=ls,
            lw=0.8,
            label=text,
        )
        if kind == "baseline" and len(pts) > 1:
            at: dict[tuple[float, float], list[str]] = {}  # weights that give the same point
            for r in pts:
                xy = (r["cloud_cost_usd_iqm"], r["mean_quality_iqm"])
                at.setdefault(xy, []).append(f"{r['w_cloud_cost_multiplier']:g}")
            for xy, ms in at.items():
                ax.annotate(
                    "x" + ",".join(ms), xy, fontsize=6, xytext=(3, 3), textcoords="offset points"
                )
    fx = np.array([r["cloud_cost_usd_iqm"] for r in rows])[front]
    fy = np.array([r["mean_quality_iqm"] for r in rows])[front]
    order = np.argsort(fx)
    ax.step(fx[order], fy[order], where="post", color="k", lw=1.0, alpha=0.6, label="Pareto front")
    ax.set_xlabel("cloud cost per episode ($)")
    ax.set_ylabel(case.quality_label)
    ax.set_title(
        f"{case.name}: quality against cloud cost as reward.w_cloud_cost varies\n"
        f"(multiples of the scenario's {w0:g} per $; IQM of {len(seeds)} episodes per point)",
        fontsize=9,
    )
    grid_and_legend_right(ax)
    save_fig(fig, out / "cost_quality.png")
