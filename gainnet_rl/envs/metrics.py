"""Episode KPIs of the batched state (units: s, J, $)."""

from __future__ import annotations

import numpy as np

from gainnet_rl.envs.models.reward import TERMS
from gainnet_rl.envs.params import LATENCY_BIN_S, Params
from gainnet_rl.envs.state import R_INDEX, State


def pending(state: State) -> np.ndarray:
    """(B,) requests decided but not yet served or dropped."""
    ring = state.ring_events
    return ring[:, :, R_INDEX["served"]].sum(axis=1) + ring[:, :, R_INDEX["dropped"]].sum(axis=1)


def undecided(state: State) -> np.ndarray:
    """(B,) requests queued in the current slot and not yet decided."""
    return np.maximum(state.n_req - state.req_ptr, 0)


def episode_metrics(state: State, p: Params) -> dict[str, np.ndarray]:
    """Per-episode KPIs so far, (B,) each. Units: s, J, $."""
    ep = state.ep
    served, dropped = ep["served"], ep["dropped"]
    finished = served + dropped
    hist = state.ep_latency_hist
    cum = np.cumsum(hist, axis=1)
    total = cum[:, -1]
    p95_bin = np.argmax(cum >= np.ceil(0.95 * np.maximum(total, 1))[:, None], axis=1)
    div = lambda a, b: np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b > 0)
    horizon_s = p.episode_slots * p.slot_s
    out = {
        "reward": ep["reward"].copy(),
        "arrived": ep["arrived"].copy(),
        "served": served.copy(),
        "dropped": dropped.copy(),
        "pending": pending(state) + undecided(state),
        "deadline_met_ratio": div(ep["met"], finished),
        "missed": ep["missed"].copy(),
        "aborted": ep["aborted"].copy(),
        "mean_latency_s": div(ep["latency"], served),
        "p95_latency_s": np.where(total > 0, (p95_bin + 1) * LATENCY_BIN_S, 0.0),
        "mean_quality": div(ep["quality"], served),
        "energy_j": ep["energy"].copy(),
        "cloud_cost_usd": ep["cost"].copy(),
        "cloud_energy_j": ep["cloud_energy"].copy(),
        "edge_utilization": ep["edge_busy_s"] / (p.num_edges * p.max_batch * horizon_s),
        "invalid_actions": ep["invalid"].copy(),
        "handovers": ep["handovers"].copy(),
        "overflow": ep["overflow"].copy(),
        "local_requests": ep["local_requests"].copy(),
        "edge_requests": ep["edge_requests"].copy(),
        "cloud_requests": ep["cloud_requests"].copy(),
        "rejected": ep["rejected"].copy(),
    }
    for k in TERMS:
        out[f"reward_{k}"] = ep[f"term_{k}"].copy()
    return out
