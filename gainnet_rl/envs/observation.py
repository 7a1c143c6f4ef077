"""Observation encoders (SYSTEM_MODEL sections 8 and 12.7), batched.

Both encoders read the state and the current decision's option outcomes and
return float32 arrays with a leading batch dimension. Edges are padded to
``Params.max_edges`` so the same policy runs on every network size. Features
are scaled to roughly [-1, 1] and bounded to [-OBS_BOUND, OBS_BOUND].

:func:`layout` is the one description of the flat vector (block offsets and
feature names); the option-scoring policies read it instead of re-deriving it.
With ``option_outcomes=False`` the options block holds only each option's
validity (section 12.7).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from gainnet_rl.envs import core
from gainnet_rl.envs.params import Params

OBS_BOUND = 10.0
GLOBAL_FEATURES = (
    "is_plan",
    "is_request",
    "time_in_frame",
    "time_in_episode",
    "cloud_wait/max_deadline",
    "cloud_knowledge_factor",
    "load/2",
    "log(1+undecided)/3",
)
REQUEST_FEATURES = (
    "log10(1+upload_bits)/7",
    "log10(1+download_bits)/7",
    "log10(1+prefill_tokens)/4",
    "log10(1+generated_tokens)/3",
    "deadline/max_deadline",
    "quality_floor",
    "private",
    "local_tier",
    "device_wait/max_deadline",
)  # after a one-hot of the service
OPTION_FEATURES = ("valid", "latency/deadline", "quality", "met", "reward")
EDGE_FEATURES = (
    "real",
    "up",
    "being_planned",
    "compute_wait/max_deadline",
    "busy_streams/max_batch",
    "kv_used/kv_budget",
    "uplink_wait/max_deadline",
    "downlink_wait/max_deadline",
    "backhaul_wait/max_deadline",
    "knowledge_factor",
    "finetune_share",
    "sensing_share",
    "snr_db/30 (current device)",
    "in_range (current device)",
    "associated (current device)",
    "associated_devices/U",
)  # followed by one "tier held and ready (0, 1/3, 2/3, 1)" per service
NODE_TYPES = ("device", "edge", "cloud")
PARTS = ("global", "plan", "request", "edges", "options")


@dataclass(frozen=True)
class Layout:
    """Where each block of the flat observation sits.

    Attributes:
        offsets: block name -> (start, end) in the flat vector.
        shapes: block name -> per-sub-env shape.
        option_features: names of the per-option features.
        edge_features: names of the per-edge features (tier columns included).
        size: length of the flat vector.
    """

    offsets: dict[str, tuple[int, int]]
    shapes: dict[str, tuple[int, ...]]
    option_features: tuple[str, ...]
    edge_features: tuple[str, ...]
    size: int


def layout(p: Params, option_outcomes: bool = True) -> Layout:
    """The flat observation's layout for a scenario (cached on the Params)."""
    cache = p.__dict__.setdefault("_obs_layouts", {})
    lay = cache.get(option_outcomes)
    if lay is None:
        S, Em, O = p.num_services, p.max_edges, p.num_options
        opt = OPTION_FEATURES if option_outcomes else OPTION_FEATURES[:1]
        edge = (*EDGE_FEATURES, *(f"tier_{s}" for s in p.service_names))
        shapes = {
            "global": (len(GLOBAL_FEATURES),),
            "plan": (Em + S + 2,),
            "request": (S + len(REQUEST_FEATURES),),
            "edges": (Em, len(edge)),
            "options": (O, len(opt)),
        }
        offsets, off = {}, 0
        for k in PARTS:
            n = int(np.prod(shapes[k]))
            offsets[k] = (off, off + n)
            off += n
        lay = Layout(offsets, shapes, opt, edge, off)
        cache[option_outcomes] = lay
    return lay


def flat_size(p: Params, option_outcomes: bool = True) -> int:
    """Length of the flat observation vector."""
    return layout(p, option_outcomes).size


def flat_space(p: Params, option_outcomes: bool = True) -> spaces.Box:
    return spaces.Box(
        -OBS_BOUND, OBS_BOUND, shape=(flat_size(p, option_outcomes),), dtype=np.float32
    )


def graph_space(p: Params, option_outcomes: bool = True) -> spaces.Dict:
    """Dict observation: node features of [device, edges (padded), cloud], a
    node mask, request-to-node edge features and global features."""
    lay = layout(p, option_outcomes)
    n_nodes = p.max_edges + 2
    n_opt = len(lay.option_features)
    box = lambda *shape: spaces.Box(-OBS_BOUND, OBS_BOUND, shape=shape, dtype=np.float32)
    n_glob = sum(lay.shapes[k][0] for k in ("global", "plan", "request")) + n_opt
    return spaces.Dict(
        {
            "nodes": box(n_nodes, len(NODE_TYPES) + len(lay.edge_features)),
            "node_mask": spaces.Box(0.0, 1.0, shape=(n_nodes,), dtype=np.float32),
            "edges": box(n_nodes, n_opt),
            "globals": box(n_glob),
        }
    )


def _wait(free_s: np.ndarray, now: np.ndarray) -> np.ndarray:
    """Seconds until the earliest of the servers on the last axis is free."""
    return np.maximum(free_s.min(axis=-1) - now, 0.0)


def _parts(
    state: core.State, p: Params, out: dict[str, np.ndarray], option_outcomes: bool
) -> dict[str, np.ndarray]:
    """Unbounded float64 parts, as views of one (B, flat_size) buffer (key ``"flat"``).

    The blocks of the other decision type are exactly +0.0 (never -0.0), so a
    sub-env's observation does not depend on the rest of the batch, byte for byte.
    """
    B, E, Em, S, U = state.batch_size, p.num_edges, p.max_edges, p.num_services, p.num_devices
    rows = core.arange(B)
    dtype = core.decision_type(state, p)
    is_plan, is_req = dtype == core.DECISION_PLAN, dtype == core.DECISION_REQUEST
    any_plan, any_req = bool(is_plan.any()), bool(is_req.any())
    max_dl = p.max_deadline_s
    t = np.minimum(state.slot, p.episode_slots)
    now = t * p.slot_s
    lay = layout(p, option_outcomes)
    flat = np.zeros((B, lay.size))
    parts = {"flat": flat}
    for k in PARTS:
        start, end = lay.offsets[k]
        parts[k] = flat[:, start:end].reshape(B, *lay.shapes[k])
    glob = parts["global"]
    glob[:, 0] = is_plan
    glob[:, 1] = is_req
    glob[:, 2] = (t % p.frame_slots) / p.frame_slots
    glob[:, 3] = t / p.episode_slots
    glob[:, 4] = _wait(state.cloud_free_s, now) / max_dl
    glob[:, 5] = core.knowledge_factor(state.cloud_knowledge, p)
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
        req[:, S] = np.log10(1.0 + out["up_bits"]) / 7.0
        req[:, S + 1] = np.log10(1.0 + state.q_down_bits[rows, r]) / 7.0
        req[:, S + 2] = np.log10(1.0 + state.q_in_tokens[rows, r]) / 4.0
        req[:, S + 3] = np.log10(1.0 + state.q_out_tokens[rows, r]) / 3.0
        req[:, S + 4] = out["deadline_s"] / max_dl
        req[:, S + 5] = state.q_min_quality[rows, r]
        req[:, S + 6] = state.q_private[rows, r]
        req[:, S + 7] = (p.device_tier[s] + 1) / 3.0
        req[:, S + 8] = np.maximum(state.device_free_s[rows, out["device"]] - now, 0.0) / max_dl
        req[~is_req] = 0.0
    # per edge (padded edges stay zero)
    ef = parts["edges"][:, :E]
    n_assoc = np.bincount((rows[:, None] * E + state.assoc).reshape(-1), minlength=B * E).reshape(
        B, E
    )
    nowE = now[:, None]
    budget = p.plan_kv_budget_gb[state.plan]
    live = state.st_free_s > now[:, None, None]
    ef[:, :, 0] = 1.0
    ef[:, :, 1] = state.edge_up
    if any_plan:
        ef[:, :, 2] = (core.arange(E)[None, :] == pe[:, None]) & is_plan[:, None]
    ef[:, :, 3] = _wait(state.st_free_s, nowE) / max_dl
    ef[:, :, 4] = live.sum(axis=-1) / p.max_batch
    ef[:, :, 5] = (live * state.st_kv_gb).sum(axis=-1) / np.maximum(budget, 1e-9)
    ef[:, :, 6] = _wait(state.ul_free_s, nowE) / max_dl
    ef[:, :, 7] = _wait(state.dl_free_s, nowE) / max_dl
    ef[:, :, 8] = np.maximum(state.bh_free_s - nowE, 0.0) / max_dl
    ef[:, :, 9] = core.knowledge_factor(state.knowledge, p)
    ef[:, :, 10] = state.finetune
    ef[:, :, 11] = state.sensing
    if any_req:
        d = core.derived(p)
        snr_db = out["gain_db"] - d.range_gain_db + 10 * np.log10(p.channel.ul_link[1])
        ef[:, :, 12] = np.where(is_req[:, None], snr_db / 30.0, 0.0)
        ef[:, :, 13] = out["in_range"] & is_req[:, None]
        ef[:, :, 14] = (core.arange(E)[None, :] == out["assoc"][:, None]) & is_req[:, None]
    ef[:, :, 15] = n_assoc / U
    ready = state.tier_ready_slot <= state.slot[:, None, None]
    ef[:, :, len(EDGE_FEATURES) :] = (state.edge_tier + 1) * ready / 3.0
    # per option (zero unless deciding a request)
    if any_req:
        of = parts["options"]
        of[:, :, 0] = out["valid"]
        if option_outcomes:
            deadline = np.maximum(out["deadline_s"], 1e-9)[:, None]
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


def flat_obs(
    state: core.State, p: Params, out: dict[str, np.ndarray], option_outcomes: bool = True
) -> np.ndarray:
    """(B, flat_size) observation."""
    return _bound(_parts(state, p, out, option_outcomes)["flat"])


def graph_obs(
    state: core.State, p: Params, out: dict[str, np.ndarray], option_outcomes: bool = True
) -> dict[str, np.ndarray]:
    """Dict of batched arrays matching :func:`graph_space`."""
    parts = _parts(state, p, out, option_outcomes)
    B, Em = state.batch_size, p.max_edges
    n_nodes = Em + 2
    nt, ne = len(NODE_TYPES), parts["edges"].shape[2]
    nodes = np.zeros((B, n_nodes, nt + ne))
    nodes[:, 0, 0] = 1.0
    nodes[:, 1 : Em + 1, 1] = 1.0
    nodes[:, Em + 1, 2] = 1.0
    nodes[:, 1 : Em + 1, nt:] = parts["edges"]
    nodes[:, Em + 1, nt + 3] = parts["global"][:, 4]  # cloud wait
    nodes[:, Em + 1, nt + 9] = parts["global"][:, 5]  # cloud knowledge
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
