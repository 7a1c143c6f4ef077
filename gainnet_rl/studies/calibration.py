"""``gainnet-calibration``: what each scenario's defaults add up to (SYSTEM_MODEL 12.10).

Per scenario, at its load (1 by default):

- the uplink rate of a request sub-band (the default plan's sensing share
  reserved) from each device to its associated edge, with shadowing and
  fading, over the devices of 50 reset episodes: the median and the cell edge
  (5th percentile), in Mbit/s;
- the offered load on each pool: edge compute (rho, by definition), uplink
  and downlink (request bits per second of one edge's devices over its
  request band at the median rate), backhaul and cloud (if every request the
  cloud may take went there; the backhaul also carries the relayed sensing
  data and background traffic), sensing (the devices' sensed bits over the
  sensing slice at the median rate) and fine-tuning (sensed tokens over the
  default plan's fine-tuning throughput);
- the most concurrent streams an edge runs per service and tier (the default
  plan with that tier, KV cache of a mean request, capped at ``max_batch``);
- the $ per cloud request of each service (a mean request).

The numbers are derived from the configs and the dynamics' own formulas;
docs/model.md quotes them.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import numpy as np

from gainnet_rl.envs import core
from gainnet_rl.envs.catalog import TIER_NAMES
from gainnet_rl.envs.config import ConfigError, make_params, scenario_names
from gainnet_rl.envs.params import Params


def uplink_rates_bps(p: Params, episodes: int = 50) -> np.ndarray:
    """Request sub-band uplink rates (bit/s) of every device to its edge at reset."""
    st = core.reset(np.arange(1, episodes + 1, dtype=np.uint64) * np.uint64(7919), p)
    rows = np.arange(episodes)[:, None]
    a = st.assoc
    g = core.db_to_linear(st.gain_db[rows, np.arange(p.num_devices)[None, :], a])
    h = st.channel["h_re"][rows, np.arange(p.num_devices)[None, :], a]
    h2 = h**2 + st.channel["h_im"][rows, np.arange(p.num_devices)[None, :], a] ** 2
    sub = (1.0 - p.plan_sensing[p.default_plan]) * p.ul_bandwidth_hz / p.ul_subbands
    return p.channel.uplink_rate_bps(g * h2, np.full(g.shape, sub), p.ul_time_share).ravel()


def report(p: Params) -> dict[str, Any]:
    """The calibration numbers of one scenario (see the module docstring)."""
    d = core.derived(p)
    rates = uplink_rates_bps(p)
    median = float(np.median(rates))
    lam = p.arrival_rate_hz * p.load  # requests/s per device
    per_edge = p.num_devices / p.num_edges
    mix = p.service_share
    mean_in, mean_out = d.mean_in_tokens, d.mean_out_tokens
    prompt = (p.in_tokens_lo + p.in_tokens_hi) / 2
    payload = (p.payload_lo_bits + p.payload_hi_bits) / 2
    vision = p.service_kind == 1
    up_bits = prompt * p.bits_per_token + np.where(vision, payload, 0.0)
    down_bits = mean_out * p.bits_per_token + np.where(vision, 0.0, payload)
    sens = p.plan_sensing[p.default_plan]
    ul_band = (1 - sens) * median * p.ul_subbands  # the request band at the median SE
    dl_sub = p.channel.downlink_rate_bps(
        np.array(10 ** (-100 / 10)), p.dl_bandwidth_hz, d.dl_sub_hz, p.dl_time_share
    )
    cloud_ok = 1 - p.private_prob  # share of each service the cloud may take
    cloud_s = p.cloud_fixed_s + p.cloud_out_s * mean_out
    sensed_bps = per_edge * p.sensing_rate_bps
    # the sensing slice at the median spectral efficiency of a request sub-band
    slice_bps = median * p.ul_subbands * sens / max(1 - sens, 1e-9)
    ft = p.plan_finetune[p.default_plan]
    ft_tok_s = (
        ft
        * p.finetune_efficiency
        * p.edge_peak_flops
        / (6 * p.plan_ft_params_b[p.default_plan] * 1e9)
        if p.plan_ft_params_b[p.default_plan] > 0
        else 0.0
    )
    uploaded_bps = min(sensed_bps, slice_bps) if sens > 0 else 0.0
    pools = {
        "edge_compute": p.offered_load,
        "uplink": lam * per_edge * float(np.dot(mix, up_bits)) / ul_band,
        "downlink": lam * per_edge * float(np.dot(mix, down_bits)) / float(dl_sub * p.dl_subbands),
        "backhaul": (
            lam * per_edge * float(np.dot(mix * cloud_ok, up_bits + down_bits))
            + p.cloud_relay_fraction * uploaded_bps
        )
        / p.backhaul_bps,
        "cloud": lam * p.num_devices * float(np.dot(mix * cloud_ok, cloud_s)) / p.cloud_streams,
        "sensing_uplink": sensed_bps / slice_bps if sens > 0 else math.nan,
        "finetune": uploaded_bps / 1e6 * p.tokens_per_mbit / ft_tok_s if ft_tok_s > 0 else math.nan,
    }
    streams = {}
    default = p.plan_tiers[p.default_plan]
    for s, name in enumerate(p.service_names):
        for m, tier in enumerate(TIER_NAMES):
            if not np.isfinite(p.tier_memory_gb[s, m]):
                continue
            tiers = default.copy()
            tiers[s] = m
            weights = sum(p.tier_memory_gb[i, t] for i, t in enumerate(tiers) if t >= 0)
            budget = p.edge_memory_gb - weights - p.finetune_memory_gb * (ft > 0)
            kv = p.tier_kv_fixed_gb[s, m] + p.tier_kv_per_token_gb[s, m] * (
                mean_in[s] + mean_out[s]
            )
            streams[f"{name}/{tier}"] = max(0, min(p.max_batch, math.floor(budget / kv)))
    usd = p.cloud_usd_fixed + p.cloud_usd_in * mean_in + p.cloud_usd_out * mean_out
    demand = {
        name: f"{lam * per_edge * share:.2f}/s {cls or 'by share'}"
        for name, share, cls in zip(p.service_names, mix, p.service_arrival, strict=True)
    }
    return {
        "version": p.version,
        "scenario": p.name,
        "load": p.load,
        "deployment": p.deployment,
        "arrivals": type(p.arrivals).__name__,
        "episode_s": p.episode_slots * p.slot_s,
        "demand_per_edge": demand,
        "uplink_median_mbps": median / 1e6,
        "uplink_cell_edge_mbps": float(np.percentile(rates, 5)) / 1e6,
        "requests_per_s_per_edge": lam * per_edge,
        "offered_load": pools,
        "max_streams": streams,
        "usd_per_cloud_request": dict(zip(p.service_names, usd.tolist(), strict=True)),
        "cloud_capacity_ratio": p.cloud_capacity_ratio,
        "sensing_binds_through": p.sensing_binds_through,
    }


def format_report(r: dict[str, Any]) -> str:
    pools = ", ".join(f"{k} {v:.2f}" for k, v in r["offered_load"].items() if math.isfinite(v))
    streams = ", ".join(f"{k} {v}" for k, v in r["max_streams"].items())
    usd = ", ".join(f"{k} ${v:.4f}" for k, v in r["usd_per_cloud_request"].items())
    demand = ", ".join(f"{k} {v}" for k, v in r["demand_per_edge"].items())
    return "\n".join(
        [
            f"## {r['scenario']} (load {r['load']:g}, GainNet-v{r['version']})",
            f"deployment: {r['deployment']}",
            f"demand: {r['arrivals']}, {r['episode_s']:g} s episodes; per edge and service "
            f"(long-run mean, class): {demand}",
            f"request sub-band uplink: median {r['uplink_median_mbps']:.1f} Mbit/s, "
            f"cell edge (5th percentile) {r['uplink_cell_edge_mbps']:.2f} Mbit/s",
            f"requests per edge: {r['requests_per_s_per_edge']:.2f} /s",
            f"offered load per pool: {pools}",
            f"cloud capacity c = C_cloud / (E C_e): {r['cloud_capacity_ratio']:.2f}; "
            f"sensing binds through: {r['sensing_binds_through']}",
            f"max concurrent streams per edge (service/tier): {streams}",
            f"$ per cloud request: {usd}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="gainnet-calibration", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--scenarios", nargs="*", default=scenario_names(), help=f"among {scenario_names()}"
    )
    ap.add_argument(
        "--load", type=float, default=None, help="offered load (default the scenario's)"
    )
    ap.add_argument("--version", type=int, choices=(1, 2), default=None, help="GainNet version")
    args = ap.parse_args(argv)
    try:
        for name in args.scenarios:
            print(format_report(report(make_params(name, args.load, version=args.version))))
            print()
    except ConfigError as exc:
        print(f"gainnet-calibration: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
