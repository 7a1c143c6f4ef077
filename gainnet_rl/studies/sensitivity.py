"""``gainnet-sensitivity``: evidence that every pool binds (SYSTEM_MODEL sec. 12.9).

For each scenario, greedy routing (``greedy_utility`` with the default plan)
plays the same seeds on the scenario as shipped and with one pool halved and
doubled: uplink bandwidth, sensing rate, backhaul, edge compute, edge memory,
cloud capacity; at load 0.25 and 2 against load 1; and, for the demand's
burstiness, with Poisson arrivals (v1's) in place of the scenario's own
(v2's, SYSTEM_MODEL sec. 13.1; the same mean rate). Reported per variant:
the change of the mean episode reward, deadline-met ratio and p95 latency,
relative to the shipped scenario, with the standard error of the paired
(same-seed) differences. A pool *binds* in a scenario when one of the three
moves by at least 5% and by more than 3 standard errors.

Also reported: every cloud-capable baseline's deadline-met ratio at load
0.25, 1 and 2 (it must fall by at least 10 points from 0.25 to 2; random is
listed but exempt: its ratio is set by its own uniform choices, a quarter of
which reject), and their edge utilisation (greedy's at load 1 within 25%
across small, medium and large).

Writes ``sensitivity.csv``, ``table.md``, ``loads.csv``, ``sensitivity.png``
and ``summary.json`` to ``--out`` (default ``docs/results/sensitivity``).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.envs.config import ConfigError, load_scenario, make_params, scenario_names
from gainnet_rl.envs.models.arrivals import PoissonArrivals
from gainnet_rl.envs.params import POOLS, build_params
from gainnet_rl.evaluation.rollout import evaluate
from gainnet_rl.io import atomic_write_text, save_fig, write_csv, write_json

#: The config value each pool scales.
POOL_KEYS = {
    "uplink": "network.ul_bandwidth_hz",
    "sensing": "sensing.rate_bps",
    "backhaul": "network.backhaul_bps",
    "edge_compute": "network.edge_speed",
    "edge_memory": "network.edge_memory_gb",
    "cloud": "network.cloud_streams_per_edge",
}
assert tuple(POOL_KEYS) == POOLS
FACTORS = (0.5, 2.0)
LOADS = (0.25, 2.0)
KPIS = ("reward", "deadline_met_ratio", "p95_latency_s")
BIND_CHANGE, BIND_SE = 0.05, 3.0
#: Baselines of the load sweep: every one that can send requests to the cloud.
LOAD_POLICIES = tuple(h for h in HEURISTICS if h != "local_only")
#: Those whose deadline-met ratio must fall by >= 10 points from load 0.25 to 2:
#: all but random, whose ratio is set by its own uniform choices (a quarter of
#: them reject), not by congestion.
CLOUD_CAPABLE = tuple(h for h in LOAD_POLICIES if h != "random")
SCENARIOS = ("small", "medium", "large", "medical", "vehicular")
POISSON = f"{PoissonArrivals.__module__}.{PoissonArrivals.__qualname__}"


def _get(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def _play(params: Any, policy: str, seeds: Sequence[int]) -> dict[str, np.ndarray]:
    cls = HEURISTICS[policy]
    return evaluate(lambda env: cls(env, seed=0), params, list(seeds))


def _change(base: np.ndarray, var: np.ndarray) -> tuple[float, float]:
    """Relative change of the mean and its standard error (paired differences)."""
    ref = abs(float(base.mean()))
    if ref == 0:
        return 0.0, 0.0
    diff = var - base
    se = float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else float("nan")
    return float(diff.mean()) / ref, se / ref


def variants(
    scenario: str, load: float | None = None, version: int | None = None
) -> list[tuple[str, float, dict[str, Any]]]:
    """(pool, factor, overrides) for every pool halved and doubled, then the loads,
    then (unless the scenario's arrivals are Poisson already) Poisson arrivals."""
    cfg = load_scenario(scenario, version=version)
    out = []
    for pool, key in POOL_KEYS.items():
        for f in FACTORS:
            out.append((pool, f, {key: _get(cfg, key) * f}))
    base_load = cfg["load"] if load is None else load
    for ld in LOADS:
        out.append(("load", ld / base_load, {"load": ld}))
    if cfg["arrivals"].get("_target_") != POISSON:
        out.append(("burstiness", 0.0, {"arrivals._target_": POISSON}))
    return out


def run(
    scenarios: Sequence[str], seeds: Sequence[int], policy: str = "greedy_utility"
) -> list[dict[str, Any]]:
    """One row per (scenario, pool, factor, KPI): base, value, change, se, binds."""
    rows = []
    for sc in scenarios:
        base = _play(make_params(sc), policy, seeds)
        for pool, factor, ov in variants(sc):
            res = _play(build_params(load_scenario(sc, ov)), policy, seeds)
            for k in KPIS:
                ch, se = _change(base[k], res[k])
                rows.append(
                    {
                        "scenario": sc,
                        "pool": pool,
                        "factor": factor,
                        "kpi": k,
                        "base": float(base[k].mean()),
                        "value": float(res[k].mean()),
                        "change": ch,
                        "se": se,
                        "binds": bool(abs(ch) >= BIND_CHANGE and abs(ch) > BIND_SE * se),
                    }
                )
    return rows


def load_sweep(
    scenarios: Sequence[str], seeds: Sequence[int], policies: Sequence[str] = LOAD_POLICIES
) -> list[dict[str, Any]]:
    """Deadline-met ratio (and edge utilisation) of each policy at loads 0.25, 1 and 2."""
    rows = []
    for sc in scenarios:
        for pol in policies:
            row: dict[str, Any] = {"scenario": sc, "policy": pol}
            for ld in (0.25, 1.0, 2.0):
                res = _play(make_params(sc, ld), pol, seeds)
                row[f"met_{ld:g}"] = float(res["deadline_met_ratio"].mean())
                row[f"edge_utilization_{ld:g}"] = float(res["edge_utilization"].mean())
            row["met_drop_points"] = 100 * (row["met_0.25"] - row["met_2"])
            rows.append(row)
    return rows


def binding(rows: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """Pool -> scenarios where it binds."""
    out: dict[str, list[str]] = {p: [] for p in (*POOLS, "load", "burstiness")}
    for r in rows:
        if r["binds"] and r["scenario"] not in out[r["pool"]]:
            out[r["pool"]].append(r["scenario"])
    return out


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown: pool x scenario, each cell the three KPI changes at x0.5 / x2."""
    scen = list(dict.fromkeys(r["scenario"] for r in rows))
    pools = list(dict.fromkeys(r["pool"] for r in rows))
    idx = {(r["scenario"], r["pool"], r["factor"], r["kpi"]): r for r in rows}
    lines = [
        "| pool | factor | " + " | ".join(scen) + " |",
        "|---|---|" + "---|" * len(scen),
    ]
    for pool in pools:
        factors = sorted({r["factor"] for r in rows if r["pool"] == pool})
        for f in factors:
            cells = []
            for sc in scen:
                parts = []
                for k, short in zip(KPIS, ("R", "met", "p95"), strict=True):
                    r = idx.get((sc, pool, f, k))
                    if r is None:
                        continue
                    mark = "**" if r["binds"] else ""
                    parts.append(
                        f"{short} {mark}{100 * r['change']:+.0f}±{100 * r['se']:.0f}%{mark}"
                    )
                cells.append(", ".join(parts))
            label = {"load": f"load x{f:g}", "burstiness": "Poisson"}.get(pool, f"x{f:g}")
            lines.append(f"| {pool} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Heat map pool x scenario: the largest KPI change (%), binding cells marked."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    scen = list(dict.fromkeys(r["scenario"] for r in rows))
    pools = list(dict.fromkeys(r["pool"] for r in rows))
    val = np.zeros((len(pools), len(scen)))
    bind = np.zeros_like(val, dtype=bool)
    for r in rows:
        i, j = pools.index(r["pool"]), scen.index(r["scenario"])
        val[i, j] = max(val[i, j], abs(100 * r["change"]))
        bind[i, j] |= r["binds"]
    fig = Figure(figsize=(1.6 + 1.3 * len(scen), 0.9 + 0.5 * len(pools)))
    ax = fig.add_subplot()
    im = ax.imshow(np.minimum(val, 100), cmap="viridis", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(scen)), scen)
    ax.set_yticks(range(len(pools)), pools)
    for i in range(len(pools)):
        for j in range(len(scen)):
            txt = f"{val[i, j]:.0f}%" + (" *" if bind[i, j] else "")
            ax.text(j, i, txt, ha="center", va="center", color="w" if val[i, j] < 60 else "k")
    fig.colorbar(im, ax=ax, label="largest |change| of reward, met ratio, p95 (%)")
    ax.set_title("greedy_utility: pools halved / doubled (* binds: >= 5% and > 3 SE)", fontsize=9)
    save_fig(fig, path)


def main(argv: list[str] | None = None) -> int:
    """Run the sensitivity study and write its files. Returns the exit code."""
    ap = argparse.ArgumentParser(prog="gainnet-sensitivity", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--scenarios", nargs="*", default=list(SCENARIOS), help=f"among {scenario_names()}"
    )
    ap.add_argument(
        "--seeds", type=int, default=10, help="episodes per variant (seeds 1000..), >= 2"
    )
    ap.add_argument("--out", type=Path, default=Path("docs/results/sensitivity"))
    ap.add_argument("--no-loads", action="store_true", help="skip the baselines' load sweep")
    args = ap.parse_args(argv)
    if args.seeds < 2:
        ap.error(f"--seeds={args.seeds} is invalid: must be >= 2 for a standard error")
    seeds = list(range(1000, 1000 + args.seeds))
    try:
        rows = run(args.scenarios, seeds)
        loads = [] if args.no_loads else load_sweep(args.scenarios, seeds)
    except ConfigError as exc:
        print(f"gainnet-sensitivity: {exc}", file=sys.stderr)
        return 2
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    table = format_table(rows)
    binds = binding(rows)
    head = (
        f"greedy_utility, {args.seeds} episodes per variant (seeds {seeds[0]}..{seeds[-1]}); "
        "change of the mean vs the shipped scenario ± SE of paired differences; "
        "**bold**: binds (>= 5% and > 3 SE)"
    )
    text = [
        head,
        "",
        table,
        "",
        "pool binds in: " + "; ".join(f"{p}: {', '.join(s) or '-'}" for p, s in binds.items()),
    ]
    if loads:
        text += [
            "",
            "| scenario | policy | met @0.25 | met @1 | met @2 | drop (points) |",
            "|---|---|---|---|---|---|",
        ]
        text += [
            f"| {r['scenario']} | {r['policy']} | {r['met_0.25']:.3f} | {r['met_1']:.3f} | "
            f"{r['met_2']:.3f} | {r['met_drop_points']:.1f} |"
            for r in loads
        ]
        write_csv(out / "loads.csv", loads)
    atomic_write_text(out / "table.md", "\n".join(text) + "\n")
    write_csv(out / "sensitivity.csv", rows)
    write_json(
        out / "summary.json",
        {"seeds": seeds, "policy": "greedy_utility", "binds": binds, "loads": loads},
    )
    plot(rows, out / "sensitivity.png")
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
