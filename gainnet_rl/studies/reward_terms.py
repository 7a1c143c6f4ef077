"""``gainnet-reward-terms``: each reward term's share of the summed absolute
reward, per scenario and baseline (SYSTEM_MODEL sec. 12.6).

The five terms of :class:`gainnet_rl.envs.models.reward.LinearReward`
(quality, latency, energy, cloud cost, drop-plus-miss) are accumulated per
episode by the dynamics (``episode_metrics["reward_<term>"]``); their sum is
the episode reward. A term's share is ``sum_episodes |term| / sum_terms
sum_episodes |term|`` (each term has one sign, so this equals the share of
``sum_i sum_requests |term_i|``).

``--calibrate`` prints the weights that give the weight-free ``nearest_edge``
policy the target shares on the first scenario (default: small, load 1):
since nearest_edge never reads the reward, its per-unit term sums do not
depend on the weights, so the calibration is not circular.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence

import numpy as np

from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.envs.config import ConfigError, make_params, scenario_names
from gainnet_rl.envs.models.reward import TERMS
from gainnet_rl.envs.params import Params
from gainnet_rl.evaluation.rollout import evaluate

#: Weight of each term in LinearReward (drop_miss: w_drop, with w_miss = w_drop).
TERM_WEIGHTS = {
    "quality": "w_quality",
    "latency": "w_latency",
    "energy": "w_energy",
    "cloud_cost": "w_cloud_cost",
    "drop_miss": "w_drop",
}
#: Target shares of --calibrate: each within [0.1, 0.6] (sec. 12.6); quality
#: carries more than the four costs together, so a sound policy earns > 0.
TARGET_SHARES = {
    "quality": 0.56,
    "latency": 0.11,
    "energy": 0.11,
    "cloud_cost": 0.11,
    "drop_miss": 0.11,
}


def term_sums(params: Params, policy: str, seeds: Sequence[int]) -> dict[str, float]:
    """Sum over the episodes of ``seeds`` of each reward term (reward units)."""
    cls = HEURISTICS[policy]
    res = evaluate(lambda env: cls(env, seed=0), params, list(seeds))
    return {t: float(np.sum(res[f"reward_{t}"])) for t in TERMS}


def shares(sums: Mapping[str, float]) -> dict[str, float]:
    """Each term's share of the summed absolute reward."""
    total = sum(abs(v) for v in sums.values())
    return {t: (abs(v) / total if total > 0 else 0.0) for t, v in sums.items()}


def calibrated_weights(
    params: Params, seeds: Sequence[int], targets: Mapping[str, float] = TARGET_SHARES
) -> dict[str, float]:
    """Weights giving nearest_edge the ``targets`` shares, ``w_quality`` kept."""
    sums = term_sums(params, "nearest_edge", seeds)
    unit = {}
    for t, w_name in TERM_WEIGHTS.items():
        w = getattr(params.reward, w_name)
        if w <= 0:
            raise ConfigError(f"reward.{w_name}={w!r} is invalid: must be > 0 to calibrate")
        unit[t] = abs(sums[t]) / w  # the term at weight 1
    missing = [t for t, u in unit.items() if u <= 0]
    if missing:
        raise ConfigError(
            f"nearest_edge incurs no {missing} on {params.name}: these terms cannot be "
            "calibrated on this scenario"
        )
    scale = params.reward.w_quality * unit["quality"] / targets["quality"]
    return {TERM_WEIGHTS[t]: targets[t] * scale / unit[t] for t in TERMS}


def format_shares(rows: Mapping[str, Mapping[str, float]]) -> str:
    """A Markdown table: one row per policy, each term's share in percent."""
    lines = ["| policy | " + " | ".join(TERMS) + " |", "|---|" + "---:|" * len(TERMS)]
    for name, sh in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{100 * sh[t]:.1f}%" for t in TERMS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the term shares per scenario and policy. Returns the exit code."""
    ap = argparse.ArgumentParser(prog="gainnet-reward-terms", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--scenarios",
        nargs="*",
        default=["small"],
        help=f"among {scenario_names()} (default small)",
    )
    ap.add_argument(
        "--load", type=float, default=None, help="offered load (default the scenario's)"
    )
    ap.add_argument("--seeds", type=int, default=20, help="episodes per policy (seeds 1000..)")
    ap.add_argument("--version", type=int, choices=(1, 2), default=None, help="GainNet version")
    ap.add_argument(
        "--policies", nargs="*", default=list(HEURISTICS), help=f"among {list(HEURISTICS)}"
    )
    ap.add_argument(
        "--calibrate",
        action="store_true",
        help="also print the weights giving nearest_edge the target shares on the first scenario",
    )
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error(f"--seeds={args.seeds} is invalid: must be >= 1")
    unknown = [p for p in args.policies if p not in HEURISTICS]
    if unknown:
        ap.error(f"--policies {unknown} unknown: must be among {list(HEURISTICS)}")
    seeds = list(range(1000, 1000 + args.seeds))
    try:
        for name in args.scenarios:
            params = make_params(name, args.load, version=args.version)
            rows = {pol: shares(term_sums(params, pol, seeds)) for pol in args.policies}
            print(
                f"GainNet-v{params.version} scenario={params.name} load={params.load:g} "
                f"episodes={args.seeds} "
                f"(seeds {seeds[0]}..{seeds[-1]}): share of the summed absolute reward"
            )
            print(format_shares(rows))
            print()
        if args.calibrate:
            params = make_params(args.scenarios[0], args.load, version=args.version)
            w = calibrated_weights(params, seeds)
            print(
                f"weights giving nearest_edge the shares {TARGET_SHARES} on {params.name} "
                f"load {params.load:g}:"
            )
            for k, v in w.items():
                print(f"  {k}: {v:.4g}")
    except ConfigError as exc:
        print(f"gainnet-reward-terms: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
