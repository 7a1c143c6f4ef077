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
    return _layout(p)["size"][0]


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


_PART_NAMES = ("global", "plan", "request", "edges", "options")


def _layout(p: Params) -> dict[str, tuple[int, int, tuple[int, ...]]]:
    """(offset, end) in the flat vector and per-sub-env shape of each part, and
    ``"size"``: (flat size, ()). Computed once per Params (kept on the instance)."""
    layout = p.__dict__.get("_obs_layout")
    if layout is None:
        sizes = _sizes(p)
        S, Em, O = p.num_services, p.max_edges, p.num_options
        shapes = {
            "global": (sizes["global"],),
            "plan": (sizes["plan"],),
            "request": (sizes["request"],),
            "edges": (Em, len(EDGE_FEATURES) + S),
            "options": (O, len(OPTION_FEATURES)),
        }
        layout, off = {}, 0
        for k in _PART_NAMES:
            layout[k] = (off, off + sizes[k], shapes[k])
            off += sizes[k]
        layout["size"] = (off, off, ())
        p.__dict__["_obs_layout"] = layout
    return layout


def _parts(state: core.State, p: Params, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Unbounded float64 parts, as views of one (B, flat_size) buffer (key ``"flat"``).

    The blocks of the other decision type are exactly +0.0 (never -0.0), so a
    sub-env's observation does not depend on the rest of the batch, byte for byte.
    """
    B, E, Em, S, U = state.batch_size, p.num_edges, p.max_edges, p.num_services, p.num_devices
    rows = core._arange(B)
    dtype = core.decision_type(state, p)
    is_plan, is_req = dtype == core.DECISION_PLAN, dtype == core.DECISION_REQUEST
    any_plan, any_req = bool(is_plan.any()), bool(is_req.any())
    max_dl = p.max_deadline_s
    t = np.minimum(state.slot, p.episode_slots)
    layout = _layout(p)
    flat = np.zeros((B, layout["size"][0]))
    parts = {"flat": flat}
    for k in _PART_NAMES:
        start, end, shape = layout[k]
        parts[k] = flat[:, start:end].reshape(B, *shape)
    glob = parts["global"]
    glob[:, 0] = is_plan
    glob[:, 1] = is_req
    glob[:, 2] = (t % p.frame_slots) / p.frame_slots
    glob[:, 3] = t / p.episode_slots
    glob[:, 4] = state.cloud_work_s / p.cloud_servers / max_dl
    glob[:, 5] = 1.0 - np.exp(-state.cloud_knowledge_mbit / p.knowledge_scale_mbit)
    glob[:, 6] = p.load / 2.0
    glob[:, 7] = np.log1p(core.undecided(state)) / 3.0
    # plan decision: which edge, and its current plan (zero unless planning; all >= 0)
    pe = np.minimum(state.plan_ptr, E - 1)
    if any_plan:
        plan = parts["plan"]
        plan[rows[is_plan], pe[is_plan]] = 1.0
        cur = state.plan[rows, pe]
        plan[:, Em : Em + S] = (p.plan_tiers[cur] + 1) / 3.0
        plan[:, Em + S] = p.plan_finetune[cur]
        plan[:, Em + S + 1] = p.plan_sensing[cur]
        plan[~is_plan] = 0.0
    # request decision (zero unless deciding a request; all >= 0)
    if any_req:
        r = np.minimum(state.req_ptr, p.max_new_requests - 1)
        s = out["service"]
        req = parts["request"]
        req[rows, s] = 1.0
        req[:, S] = np.log10(1.0 + out["in_bits"]) / 7.0
        req[:, S + 1] = np.log10(1.0 + state.q_out_units[rows, r] * p.bits_per_unit[s]) / 7.0
        req[:, S + 2] = out["deadline_s"] / max_dl
        req[:, S + 3] = state.q_min_quality[rows, r]
        req[:, S + 4] = state.q_private[rows, r]
        req[:, S + 5] = (p.device_tier[s] + 1) / 3.0
        req[:, S + 6] = state.device_work_s[rows, out["device"]] / max_dl
        req[~is_req] = 0.0
    # per edge (padded edges stay zero)
    ef = parts["edges"][:, :E]
    share = core.compute_share(state)
    n_assoc = np.bincount((rows[:, None] * E + state.assoc).reshape(-1), minlength=B * E).reshape(
        B, E
    )
    ef[:, :, 0] = 1.0
    ef[:, :, 1] = state.edge_up
    if any_plan:
        ef[:, :, 2] = (core._arange(E)[None, :] == pe[:, None]) & is_plan[:, None]
    ef[:, :, 3] = state.edge_work_s / (p.edge_servers * share) / max_dl
    ef[:, :, 4] = state.up_wait_s / max_dl
    ef[:, :, 5] = 1.0 - np.exp(-state.knowledge_mbit / p.knowledge_scale_mbit)
    ef[:, :, 6] = state.finetune
    ef[:, :, 7] = state.sensing
    if any_req:
        snr_db = out["gain_db"] + core._derived(p).snr_offset_db
        ef[:, :, 8] = np.where(is_req[:, None], snr_db / 30.0, 0.0)
        ef[:, :, 9] = (core._arange(E)[None, :] == out["assoc"][:, None]) & is_req[:, None]
    ef[:, :, 10] = n_assoc / U
    ready = state.tier_ready_slot <= state.slot[:, None, None]
    ef[:, :, len(EDGE_FEATURES) :] = (state.edge_tier + 1) * ready / 3.0
    # per option (zero unless deciding a request)
    if any_req:
        of = parts["options"]
        deadline = np.maximum(out["deadline_s"], 1e-9)[:, None]
        of[:, :, 0] = out["valid"]
        of[:, :, 1] = np.minimum(out["latency_s"] / deadline, 3.0)
        of[:, :, 2] = out["quality"]
        of[:, :, 3] = out["met"]
        of[:, :, 4] = out["reward"]
        of[~is_req] = 0.0
    return parts


def _bound(x: np.ndarray) -> np.ndarray:
    """Clip to [-OBS_BOUND, OBS_BOUND] (NaN to 0) and cast to float32; may modify ``x``."""
    np.maximum(x, -OBS_BOUND, out=x)  # NaN propagates through maximum/minimum
    np.minimum(x, OBS_BOUND, out=x)
    np.copyto(x, 0.0, where=np.isnan(x))
    return x.astype(np.float32)


def flat_obs(state: core.State, p: Params, out: dict[str, np.ndarray]) -> np.ndarray:
    """(B, flat_size) observation."""
    return _bound(_parts(state, p, out)["flat"])


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
        "edges": _bound(opts[:, :n_nodes].copy()),
        "globals": _bound(
            np.concatenate([parts["global"], parts["plan"], parts["request"], opts[:, -1]], axis=1)
        ),
    }
