"""Observation encoders (SYSTEM_MODEL section 8), batched.

Both encoders read the state and the current decision's option outcomes and
return float32 arrays with a leading batch dimension. Edges are padded to
``Params.max_edges`` so the same policy runs on every network size. Features
are scaled to roughly [-1, 1] and bounded to [-OBS_BOUND, OBS_BOUND].
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from gainnet_rl.envs import core
from gainnet_rl.envs.params import Params

OBS_BOUND = 10.0
OPTION_FEATURES = ("valid", "latency/deadline", "quality", "met", "reward")
EDGE_FEATURES = (
    "real",
    "up",
    "being_planned",
    "compute_wait/max_deadline",
    "uplink_wait/max_deadline",
    "knowledge_factor",
    "finetune_share",
    "sensing_share",
    "snr_db/30 (current device)",
    "associated (current device)",
    "associated_devices/U",
)  # followed by one "tier held (0, 1/3, 2/3, 1)" per service
NODE_TYPES = ("device", "edge", "cloud")


def _sizes(p: Params) -> dict[str, int]:
    S, Em, O = p.num_services, p.max_edges, p.num_options
    return {
        "global": 8,
        "plan": Em + S + 2,
        "request": S + 7,
        "edges": Em * (len(EDGE_FEATURES) + S),
        "options": O * len(OPTION_FEATURES),
    }


def flat_size(p: Params) -> int:
    """Length of the flat observation vector."""
    return sum(_sizes(p).values())


def flat_space(p: Params) -> spaces.Box:
    return spaces.Box(-OBS_BOUND, OBS_BOUND, shape=(flat_size(p),), dtype=np.float32)


def graph_space(p: Params) -> spaces.Dict:
    """Dict observation: node features of [device, edges (padded), cloud], a
    node mask, request-to-node edge features and global features."""
    n_nodes = p.max_edges + 2
    s = _sizes(p)
    box = lambda *shape: spaces.Box(-OBS_BOUND, OBS_BOUND, shape=shape, dtype=np.float32)
    return spaces.Dict(
        {
            "nodes": box(n_nodes, len(NODE_TYPES) + len(EDGE_FEATURES) + p.num_services),
            "node_mask": spaces.Box(0.0, 1.0, shape=(n_nodes,), dtype=np.float32),
            "edges": box(n_nodes, len(OPTION_FEATURES)),
            "globals": box(s["global"] + s["plan"] + s["request"] + len(OPTION_FEATURES)),
        }
    )


def _parts(state: core.State, p: Params, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    B, E, Em, S = state.batch_size, p.num_edges, p.max_edges, p.num_services
    rows = np.arange(B)
    dtype = core.decision_type(state, p)
    is_plan, is_req = dtype == core.DECISION_PLAN, dtype == core.DECISION_REQUEST
    max_dl = p.max_deadline_s
    t = np.minimum(state.slot, p.episode_slots)
    glob = np.stack(
        [
            is_plan,
            is_req,
            (t % p.frame_slots) / p.frame_slots,
            t / p.episode_slots,
            state.cloud_work_s / p.cloud_servers / max_dl,
            1.0 - np.exp(-state.cloud_knowledge_mbit / p.knowledge_scale_mbit),
            np.full(B, p.load / 2.0),
            np.log1p(core.undecided(state)) / 3.0,
        ],
        axis=1,
    )
    # plan decision: which edge, and its current plan
    pe = np.minimum(state.plan_ptr, E - 1)
    plan = np.zeros((B, Em + S + 2))
    plan[rows[is_plan], pe[is_plan]] = 1.0
    cur = state.plan[rows, pe]
    plan[:, Em : Em + S] = (p.plan_tiers[cur] + 1) / 3.0
    plan[:, Em + S] = p.plan_finetune[cur]
    plan[:, Em + S + 1] = p.plan_sensing[cur]
    plan *= is_plan[:, None]
    # request decision
    r = np.minimum(state.req_ptr, p.max_new_requests - 1)
    s = out["service"]
    u = out["device"]
    req = np.zeros((B, S + 7))
    req[rows, s] = 1.0
    req[:, S] = np.log10(1.0 + out["in_bits"]) / 7.0
    req[:, S + 1] = np.log10(1.0 + state.q_out_units[rows, r] * p.bits_per_unit[s]) / 7.0
    req[:, S + 2] = out["deadline_s"] / max_dl
    req[:, S + 3] = state.q_min_quality[rows, r]
    req[:, S + 4] = state.q_private[rows, r]
    req[:, S + 5] = (p.device_tier[s] + 1) / 3.0
    req[:, S + 6] = state.device_work_s[rows, u] / max_dl
    req *= is_req[:, None]
    # per edge
    ef = np.zeros((B, Em, len(EDGE_FEATURES) + S))
    share = np.maximum((1.0 - state.finetune) * state.edge_scale * state.edge_up, 1e-9)
    ready = state.tier_ready_slot <= state.slot[:, None, None]
    n_assoc = np.sum(state.assoc[:, :, None] == np.arange(E)[None, None, :], axis=1)
    snr_db = out["gain_db"] + 10 * np.log10(
        p.channel.device_tx_w / (p.channel.bs_noise_w_per_hz * p.edge_bandwidth_hz)
    )
    cols = [
        np.ones((B, E)),
        state.edge_up,
        (np.arange(E)[None, :] == pe[:, None]) & is_plan[:, None],
        state.edge_work_s / (p.edge_servers * share) / max_dl,
        state.up_wait_s / max_dl,
        1.0 - np.exp(-state.knowledge_mbit / p.knowledge_scale_mbit),
        state.finetune,
        state.sensing,
        snr_db / 30.0 * is_req[:, None],
        (np.arange(E)[None, :] == out["assoc"][:, None]) & is_req[:, None],
        n_assoc / p.num_devices,
    ]
    ef[:, :E, : len(cols)] = np.stack(cols, axis=-1)
    ef[:, :E, len(cols) :] = (state.edge_tier + 1) * ready / 3.0
    # per option
    deadline = np.maximum(out["deadline_s"], 1e-9)[:, None]
    of = (
        np.stack(
            [
                out["valid"],
                np.minimum(out["latency_s"] / deadline, 3.0),
                out["quality"],
                out["met"],
                out["reward"],
            ],
            axis=-1,
        )
        * is_req[:, None, None]
    )
    return {"global": glob, "plan": plan, "request": req, "edges": ef, "options": of}


def _bound(x: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(x, nan=0.0), -OBS_BOUND, OBS_BOUND).astype(np.float32)


def flat_obs(state: core.State, p: Params, out: dict[str, np.ndarray]) -> np.ndarray:
    """(B, flat_size) observation."""
    parts = _parts(state, p, out)
    B = state.batch_size
    return _bound(np.concatenate([v.reshape(B, -1) for v in parts.values()], axis=1))


def graph_obs(state: core.State, p: Params, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Dict of batched arrays matching :func:`graph_space`."""
    parts = _parts(state, p, out)
    B, Em = state.batch_size, p.max_edges
    n_nodes = Em + 2
    nt, ne = len(NODE_TYPES), parts["edges"].shape[2]
    nodes = np.zeros((B, n_nodes, nt + ne))
    nodes[:, 0, 0] = 1.0
    nodes[:, 1 : Em + 1, 1] = 1.0
    nodes[:, Em + 1, 2] = 1.0
    nodes[:, 1 : Em + 1, nt:] = parts["edges"]
    nodes[:, Em + 1, nt + 3] = parts["global"][:, 4]  # cloud wait
    nodes[:, Em + 1, nt + 5] = parts["global"][:, 5]  # cloud knowledge
    node_mask = np.zeros((B, n_nodes))
    node_mask[:, 0] = 1.0
    node_mask[:, 1 : p.num_edges + 1] = 1.0
    node_mask[:, Em + 1] = 1.0
    opts = parts["options"]
    return {
        "nodes": _bound(nodes),
        "node_mask": node_mask.astype(np.float32),
        "edges": _bound(opts[:, :n_nodes]),
        "globals": _bound(
            np.concatenate([parts["global"], parts["plan"], parts["request"], opts[:, -1]], axis=1)
        ),
    }
