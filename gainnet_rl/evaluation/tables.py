"""Summaries and tables of evaluation results: mean and 95% confidence
interval per metric, and the Markdown table every CLI prints."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

#: KPIs reported in tables, in order, with their display names and units.
TABLE_METRICS: dict[str, str] = {
    "reward": "episode reward",
    "deadline_met_ratio": "deadline-met ratio",
    "p95_latency_s": "p95 latency (s)",
    "mean_quality": "mean quality",
    "energy_j": "energy (J)",
    "cloud_cost_usd": "cloud cost ($)",
    "dropped": "drops",
}


def summarize(
    results: Mapping[str, np.ndarray], level: float = 0.95
) -> dict[str, dict[str, float]]:
    """Mean and two-sided ``level`` confidence interval (Student t) per metric.

    Returns {metric: {"mean", "ci_low", "ci_high", "half_width", "n"}}.
    """
    out: dict[str, dict[str, float]] = {}
    for k, v in results.items():
        x = np.asarray(v, dtype=float)
        n = x.size
        mean = float(x.mean())
        half = (
            float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
            if n > 1
            else float("nan")
        )
        out[k] = {
            "mean": mean,
            "ci_low": mean - half,
            "ci_high": mean + half,
            "half_width": half,
            "n": n,
        }
    return out


def format_table(
    rows: Mapping[str, Mapping[str, Mapping[str, float]]],
    metrics: Mapping[str, str] = TABLE_METRICS,
) -> str:
    """A Markdown table: one row per policy, ``mean ± half-width`` per metric."""
    head = "| policy | " + " | ".join(metrics.values()) + " |"
    sep = "|---|" + "---|" * len(metrics)
    lines = [head, sep]
    for name, summ in rows.items():
        cells = []
        for k in metrics:
            m = summ[k]
            cells.append(_fmt(m["mean"], m["half_width"]))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(mean: float, half: float) -> str:
    mag = max(abs(mean), abs(half) if math.isfinite(half) else 0.0)
    digits = 3 if mag < 10 else 2 if mag < 100 else 1 if mag < 1000 else 0
    if not math.isfinite(half):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def episodes_header(meta: Mapping[str, Any]) -> str:
    """The line above a results table: GainNet version (when known), scenario,
    load and the evaluation seeds of ``meta`` (keys ``version``, ``scenario``,
    ``load``, ``seeds``)."""
    seeds = list(meta["seeds"])
    version = f"GainNet-v{meta['version']} " if "version" in meta else ""
    return (
        f"{version}scenario={meta['scenario']} load={meta['load']:g} episodes={len(seeds)} "
        f"(seeds {seeds[0]}..{seeds[-1]}); mean ± 95% CI half-width"
    )
