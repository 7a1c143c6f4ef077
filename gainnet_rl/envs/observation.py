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

import math
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces
from numba import njit

from gainnet_rl.envs import core
from gainnet_rl.envs.outcomes import knowledge1
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
)  # followed by one "tier held and ready (0, 1/3, 2/3, 1)" per service, then the
# demand history (sec. 13.3): per service and horizon h, the arrivals per second of
# the service at the edge (its devices' serving edge), exponentially weighted with
# time constant h, over the edge's mean at load 1 (``Params.demand_ref_hz``)
_N_EDGE_BASE = len(EDGE_FEATURES)
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
        edge = (
            *EDGE_FEATURES,
            *(f"tier_{s}" for s in p.service_names),
            *(f"demand_{s}_{h:g}s/ref" for s in p.service_names for h in p.demand_horizons_s),
        )
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


def _parts(
    state: core.State, p: Params, out: dict[str, np.ndarray], option_outcomes: bool
) -> dict[str, np.ndarray]:
    """Unbounded float64 parts, as views of one (B, flat_size) buffer (key ``"flat"``),
    filled by the compiled :func:`_fill`.

    The blocks of the other decision type are exactly +0.0 (never -0.0), so a
    sub-env's observation does not depend on the rest of the batch, byte for byte.
    """
    B = state.batch_size
    lay = layout(p, option_outcomes)
    flat = np.zeros((B, lay.size))
    o = lay.offsets
    d = core.derived(p)
    _fill(
        flat, o["global"][0], o["plan"][0], o["request"][0], o["edges"][0], o["options"][0],
        lay.shapes["edges"][1], lay.shapes["options"][1], state.slot, state.plan_ptr,
        state.req_ptr, state.n_req, state.cloud_free_s, state.cloud_knowledge, state.plan,
        state.q_down_bits, state.q_in_tokens, state.q_out_tokens, state.q_min_quality,
        state.q_private, state.device_free_s, state.assoc, state.st_free_s, state.st_kv_gb,
        state.ul_free_s, state.dl_free_s, state.bh_free_s, state.knowledge, state.finetune,
        state.sensing, state.edge_up, state.edge_tier, state.tier_ready_slot, out["service"],
        out["up_bits"], out["deadline_s"], out["device"], out["gain_db"], out["in_range"],
        out["assoc"], out["valid"], out["latency_s"], out["quality"], out["met"],
        out["reward"], p.plan_tiers, p.plan_finetune, p.plan_sensing, p.plan_kv_budget_gb,
        p.device_tier, p.episode_slots, p.frame_slots, p.slot_s, p.max_deadline_s,
        p.knowledge_scale_tokens, p.load, p.max_edges, p.max_new_requests, p.max_batch,
        d.range_gain_db, 10 * np.log10(p.channel.ul_link[1]), state.demand_hz,
        p.demand_ref_hz,
    )  # fmt: skip
    parts = {"flat": flat}
    for k in PARTS:
        start, end = lay.offsets[k]
        parts[k] = flat[:, start:end].reshape(B, *lay.shapes[k])
    return parts


@njit(cache=True, inline="always")
def _wait1(free: np.ndarray, now: float) -> float:  # pragma: no cover - compiled
    """Seconds until the earliest of the servers ``free`` is free."""
    return max(free.min() - now, 0.0)


@njit(cache=True)
def _fill(  # pragma: no cover - compiled
    flat, o_glob, o_plan, o_req, o_edges, o_opts, n_edge_f, n_opt_f, slot, plan_ptr,
    req_ptr, n_req, cloud_free, cloud_knowledge, plan, q_down, q_in, q_out, q_min_q,
    q_private, device_free, assoc, st_free, st_kv, ul_free, dl_free, bh_free, knowledge,
    finetune, sensing, edge_up, edge_tier, tier_ready, o_service, o_up_bits, o_deadline,
    o_device, o_gain_db, o_in_range, o_assoc, o_valid, o_latency, o_quality, o_met,
    o_reward, plan_tiers, plan_finetune, plan_sensing, kv_budget, device_tier,
    episode_slots, frame_slots, slot_s, max_dl, k_scale, load, Em, R, max_batch, range_gain_db,
    snr_offset_db, demand_hz, demand_ref_hz,
):  # fmt: skip
    """The flat observation's features (see the ``*_FEATURES`` names), unbounded."""
    B, E, S = plan.shape[0], plan.shape[1], edge_tier.shape[2]
    U = assoc.shape[1]
    O = o_valid.shape[1]
    for b in range(B):
        f = flat[b]
        is_plan = slot[b] < episode_slots and plan_ptr[b] < E
        is_req = slot[b] < episode_slots and plan_ptr[b] >= E
        t = min(slot[b], episode_slots)
        now = t * slot_s
        f[o_glob + 0] = is_plan
        f[o_glob + 1] = is_req
        f[o_glob + 2] = (t % frame_slots) / frame_slots
        f[o_glob + 3] = t / episode_slots
        f[o_glob + 4] = _wait1(cloud_free[b], now) / max_dl
        f[o_glob + 5] = knowledge1(cloud_knowledge[b], k_scale)
        f[o_glob + 6] = load / 2.0
        f[o_glob + 7] = math.log1p(max(n_req[b] - req_ptr[b], 0)) / 3.0
        pe = min(plan_ptr[b], E - 1)
        if is_plan:  # which edge, and its current plan
            cur = plan[b, pe]
            f[o_plan + pe] = 1.0
            for s in range(S):
                f[o_plan + Em + s] = (plan_tiers[cur, s] + 1) / 3.0
            f[o_plan + Em + S] = plan_finetune[cur]
            f[o_plan + Em + S + 1] = plan_sensing[cur]
        if is_req:
            r = min(req_ptr[b], R - 1)
            s = o_service[b]
            f[o_req + s] = 1.0
            f[o_req + S] = math.log10(1.0 + o_up_bits[b]) / 7.0
            f[o_req + S + 1] = math.log10(1.0 + q_down[b, r]) / 7.0
            f[o_req + S + 2] = math.log10(1.0 + q_in[b, r]) / 4.0
            f[o_req + S + 3] = math.log10(1.0 + q_out[b, r]) / 3.0
            f[o_req + S + 4] = o_deadline[b] / max_dl
            f[o_req + S + 5] = q_min_q[b, r]
            f[o_req + S + 6] = q_private[b, r]
            f[o_req + S + 7] = (device_tier[s] + 1) / 3.0
            f[o_req + S + 8] = max(device_free[b, o_device[b]] - now, 0.0) / max_dl
        for e in range(E):  # per edge (padded edges stay zero)
            x = o_edges + e * n_edge_f
            n_live, kv_live = 0, 0.0
            for j in range(st_free.shape[2]):
                if st_free[b, e, j] > now:
                    n_live += 1
                    kv_live += st_kv[b, e, j]
            n_assoc = 0
            for u in range(U):
                if assoc[b, u] == e:
                    n_assoc += 1
            f[x + 0] = 1.0
            f[x + 1] = edge_up[b, e]
            f[x + 2] = is_plan and e == pe
            f[x + 3] = _wait1(st_free[b, e], now) / max_dl
            f[x + 4] = n_live / max_batch
            f[x + 5] = kv_live / max(kv_budget[plan[b, e]], 1e-9)
            f[x + 6] = _wait1(ul_free[b, e], now) / max_dl
            f[x + 7] = _wait1(dl_free[b, e], now) / max_dl
            f[x + 8] = max(bh_free[b, e] - now, 0.0) / max_dl
            f[x + 9] = knowledge1(knowledge[b, e], k_scale)
            f[x + 10] = finetune[b, e]
            f[x + 11] = sensing[b, e]
            if is_req:
                f[x + 12] = (o_gain_db[b, e] - range_gain_db + snr_offset_db) / 30.0
                f[x + 13] = o_in_range[b, e]
                f[x + 14] = e == o_assoc[b]
            f[x + 15] = n_assoc / U
            for s in range(S):
                ready = tier_ready[b, e, s] <= slot[b]
                f[x + _N_EDGE_BASE + s] = (edge_tier[b, e, s] + 1) * ready / 3.0
            H = demand_hz.shape[3]
            for s in range(S):
                for h in range(H):
                    f[x + _N_EDGE_BASE + S + s * H + h] = demand_hz[b, e, s, h] / demand_ref_hz[s]
        if is_req:  # per option
            for o in range(O):
                x = o_opts + o * n_opt_f
                f[x] = o_valid[b, o]
                if n_opt_f > 1:
                    f[x + 1] = min(o_latency[b, o] / max(o_deadline[b], 1e-9), 3.0)
                    f[x + 2] = o_quality[b, o]
                    f[x + 3] = o_met[b, o]
                    f[x + 4] = o_reward[b, o]


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
