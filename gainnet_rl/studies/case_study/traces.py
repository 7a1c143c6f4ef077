"""Figures d-e of a case study (robustness to an outage and a compute cut, the
knowledge flow's value: per-frame traces) and the table at load 1.0."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gainnet_rl.envs.params import Params
from gainnet_rl.evaluation.stats import probability_of_improvement, verdict
from gainnet_rl.evaluation.tables import format_table, summarize
from gainnet_rl.io import atomic_write_text, save_fig, write_csv
from gainnet_rl.studies.case_study.figures import (
    AGENT_STYLE,
    BASELINE_STYLE,
    grid_and_legend_right,
    policy_colors,
    pyplot,
)
from gainnet_rl.studies.case_study.measure import CONDITION_TITLES, cell_stat, stat
from gainnet_rl.studies.case_study.plan import CaseStudy


def robustness(
    out: Path,
    traces: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]],
    kinds: Mapping[str, str],
    params: Params,
    event_s: float,
    case: CaseStudy,
) -> None:
    """``robustness.png/.csv``: reward per frame (reward units per 1 s frame)
    and deadline-met ratio per frame (requests met / finished in the frame),
    under each condition; mean (and 95% CI of the reward) over the episodes of
    every training seed / the baseline's episodes."""
    K = params.frame_slots
    frame_s = K * params.slot_s
    rows: list[dict[str, Any]] = []
    series: dict[tuple[str, str], tuple[np.ndarray, ...]] = {}
    for cond, by_policy in traces.items():
        for name, tr in by_policy.items():
            f = tr
            n_ep, n_fr = f["reward"].shape
            st = [stat(f["reward"][:, j]) for j in range(n_fr)]
            mean, lo, hi = (np.array(v) for v in zip(*st, strict=True))
            finished = (f["served"] + f["dropped"]).sum(axis=0)
            met = np.divide(
                f["met"].sum(axis=0),
                finished,
                out=np.full(n_fr, np.nan),
                where=finished > 0,
            )
            series[(cond, name)] = (mean, lo, hi, met)
            for j in range(n_fr):
                rows.append(
                    {
                        "condition": cond,
                        "policy": name,
                        "kind": kinds[name],
                        "frame": j,
                        "t_start_s": j * frame_s,
                        "episodes": n_ep,
                        "reward_mean": mean[j],
                        "reward_ci_low": lo[j],
                        "reward_ci_high": hi[j],
                        "deadline_met_ratio": met[j],
                        "served_per_episode": f["served"][:, j].mean(),
                        "dropped_per_episode": f["dropped"][:, j].mean(),
                        "event_start_s": event_s if cond != "none" else float("nan"),
                    }
                )
    write_csv(out / "robustness.csv", rows)

    plt = pyplot()
    conds = list(traces)
    fig, axes = plt.subplots(2, len(conds), figsize=(4.6 * len(conds), 6.6), sharey="row")
    axes = np.asarray(axes).reshape(2, len(conds))
    names = list(kinds)
    colors = policy_colors(names)
    for j, cond in enumerate(conds):
        for name in names:
            if (cond, name) not in series:
                continue
            mean, lo, hi, met = series[(cond, name)]
            t = (np.arange(mean.size) + 0.5) * frame_s
            style = AGENT_STYLE if kinds[name] == "agent" else BASELINE_STYLE
            axes[0, j].plot(t, mean, color=colors[name], label=name, **style)
            if kinds[name] == "agent":
                axes[0, j].fill_between(t, lo, hi, color=colors[name], alpha=0.15, lw=0)
            axes[1, j].plot(t, met, color=colors[name], label=name, **style)
        for i in range(2):
            if cond != "none":
                axes[i, j].axvline(event_s, color="k", ls=":", lw=1.2)
            axes[i, j].grid(alpha=0.3)
        axes[0, j].set_title(CONDITION_TITLES.get(cond, cond), fontsize=10)
        axes[1, j].set_xlabel("time (s)")
    axes[0, 0].set_ylabel(f"reward per frame ({frame_s:g} s)")
    axes[1, 0].set_ylabel("deadline-met ratio per frame")
    axes[0, -1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    n_ep = next(iter(next(iter(traces.values())).values()))["reward"].shape[0]
    fig.suptitle(
        f"{case.name}: robustness (event at {event_s:g} s, dotted); agents: episodes of every "
        f"training seed pooled; {n_ep} episodes per agent",
        fontsize=10,
    )
    save_fig(fig, out / "robustness.png")


def knowledge_flow(
    out: Path,
    traces: Mapping[bool, Mapping[str, Mapping[str, np.ndarray]]],
    kinds: Mapping[str, str],
    params: Params,
    case: CaseStudy,
) -> None:
    """``knowledge_flow.png/.csv``: mean quality of the requests served in each
    frame (sum of quality / requests served), knowledge flow on and off."""
    K = params.frame_slots
    frame_s = K * params.slot_s
    rows: list[dict[str, Any]] = []
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.4, 4.6))
    colors = policy_colors(list(kinds))
    for on, by_policy in traces.items():
        for name, tr in by_policy.items():
            f = tr
            served = f["served"].sum(axis=0)
            q = np.divide(
                f["quality"].sum(axis=0), served, out=np.full(served.size, np.nan), where=served > 0
            )
            for j in range(q.size):
                rows.append(
                    {
                        "knowledge_flow": on,
                        "policy": name,
                        "kind": kinds[name],
                        "frame": j,
                        "t_start_s": j * frame_s,
                        "episodes": f["served"].shape[0],
                        "mean_quality": q[j],
                        "served_per_episode": f["served"][:, j].mean(),
                    }
                )
            t = (np.arange(q.size) + 0.5) * frame_s
            ax.plot(
                t,
                q,
                color=colors[name],
                lw=2.0 if kinds[name] == "agent" else 1.2,
                ls="-" if on else "--",
                label=f"{name}, knowledge flow {'on' if on else 'off'}",
            )
    write_csv(out / "knowledge_flow.csv", rows)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"{case.quality_label} of requests served, per frame")
    ax.set_title(
        f"{case.name}: knowledge flow on (solid) and off (dashed: no sensing or fine-tuning)",
        fontsize=10,
    )
    grid_and_legend_right(ax)
    save_fig(fig, out / "knowledge_flow.png")


# ------------------------------------------------------------------ table


def table(
    out: Path,
    results: Mapping[str, Sequence[Mapping[str, np.ndarray]]],
    agents: Sequence[str],
    params: Params,
    seeds: Sequence[int],
    case: CaseStudy,
) -> str:
    """``table.md``: every policy at load 1.0; an agent's episodes of all its
    training seeds pooled. Returns the text."""
    summary = {}
    for name, res in results.items():
        pooled = {k: np.concatenate([r[k] for r in res]) for k in res[0]}
        label = f"{name} ({len(res)} seeds)" if name in agents else name
        summary[label] = summarize(pooled)
    head = (
        f"{case.name}: scenario={params.name} load={params.load:g}, {len(seeds)} episodes per "
        f"policy and seed (seeds {seeds[0]}..{seeds[-1]}); agents: best model of each training "
        "seed, episodes pooled; mean ± 95% CI half-width (Student t). The verdicts below: "
        "reward IQM [stratified bootstrap 95% CI] over training seeds x episodes (rliable) "
        "against the best baseline's, and the probability of improvement over it"
    )
    cells = {name: cell_stat([r["reward"] for r in res]) for name, res in results.items()}
    rest = [k for k in results if k not in agents]
    best = max(rest, key=lambda k: cells[k][0])
    verdicts = []
    for name in agents:
        a, b = cells[name], cells[best]
        p, p_lo, p_hi = probability_of_improvement(
            np.stack([r["reward"] for r in results[name]]), np.stack([results[best][0]["reward"]])
        )
        below = [k for k in rest if not a[1] > cells[k][2]]
        verdicts.append(
            f"{name}: {verdict(a[:3], b[:3])} against {best} (the best baseline): "
            f"{a[0]:.2f} [{a[1]:.2f}, {a[2]:.2f}] ({a[3]}) vs {b[0]:.2f} [{b[1]:.2f}, {b[2]:.2f}]; "
            f"P(improvement) {p:.2f} [{p_lo:.2f}, {p_hi:.2f}]; "
            + (
                "interval above every baseline's"
                if not below
                else f"interval not entirely above: {', '.join(below)}"
            )
        )
    text = "\n".join([head, "", format_table(summary), "", *verdicts]) + "\n"
    atomic_write_text(out / "table.md", text)
    return text
