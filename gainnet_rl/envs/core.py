"""The GainNet dynamics: one pure, batched numpy transition.

Everything the scalar env, the vector env, the heuristics and the tests know
about the network's behaviour is in this file. All state arrays carry a
leading batch dimension B (sub-environments); nothing loops over devices,
edges or requests in Python.

Decisions (SYSTEM_MODEL section 8) come one per call of :func:`step`:

1. At a frame boundary (every K slots), one *plan* decision per edge, in
   index order: an index into the plan catalog (``Params.plan_*``).
2. Then, one *request* decision per request that arrived in the slot, in
   arrival order: an option index, ``0`` local, ``1 + e`` edge e, ``1 +
   E_max`` cloud, ``2 + E_max`` reject.
3. When a slot has no decision left, time advances one slot (and more, while
   slots bring no decision), and the rewards of requests that completed or
   were dropped in those slots are credited to that call.

A request's path and timing are fixed when it is decided (FIFO queues with
the rates of that instant, see docs/model.md), so its outcome (completion or
drop slot, latency, quality, energy, cloud cost) is known then and is booked
into a ring buffer indexed by the slot in which it will happen.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from gainnet_rl.envs import rng
from gainnet_rl.envs.params import LATENCY_BIN_S, Params

DECISION_PLAN = 0
DECISION_REQUEST = 1
DECISION_NONE = 2  # the episode is over

RING_FIELDS = ("reward", "served", "dropped", "met", "quality", "latency", "energy", "cost")


@dataclass
class State:
    """Batched dynamic state. Shapes: B sub-envs, U devices, E edges,
    S services, R per-slot request queue, H ring slots, NB latency bins."""

    key: np.ndarray  # (B,) uint64 episode key
    slot: np.ndarray  # (B,) int64 current slot t
    plan_ptr: np.ndarray  # (B,) int64 next edge to plan; E when none
    req_ptr: np.ndarray  # (B,) int64 next queued request to decide
    n_req: np.ndarray  # (B,) int64 requests queued this slot
    mobility: dict[str, np.ndarray]  # pos_m (B, U, 2), speed_mps (B, U), ...
    channel: dict[str, np.ndarray]  # shadow_db, h_re, h_im (B, U, E)
    arrivals: dict[str, np.ndarray]  # model-specific (B, U) arrays
    gain_db: np.ndarray  # (B, U, E) large-scale channel gain, dB
    assoc: np.ndarray  # (B, U) int64 associated edge
    q_device: np.ndarray  # (B, R) int64
    q_service: np.ndarray  # (B, R) int64
    q_in_units: np.ndarray  # (B, R) input tokens (text) or bits (image)
    q_out_units: np.ndarray  # (B, R) output tokens (text) or bits (image)
    q_deadline_s: np.ndarray  # (B, R) relative deadline, s
    q_min_quality: np.ndarray  # (B, R) quality floor
    q_private: np.ndarray  # (B, R) bool
    up_wait_s: np.ndarray  # (B, E) uplink (request band) busy time ahead, s
    bh_wait_s: np.ndarray  # (B, E) backhaul busy time ahead, s
    edge_work_s: np.ndarray  # (B, E) edge compute backlog, s of work at full speed
    cloud_work_s: np.ndarray  # (B,) cloud backlog, server-s
    device_work_s: np.ndarray  # (B, U) device compute backlog, s
    edge_tier: np.ndarray  # (B, E, S) int64 tier held, -1 none
    tier_ready_slot: np.ndarray  # (B, E, S) int64 slot from which the tier serves
    plan: np.ndarray  # (B, E) int64 plan in force
    finetune: np.ndarray  # (B, E) fine-tuning share of compute
    sensing: np.ndarray  # (B, E) sensing share of bandwidth
    knowledge_mbit: np.ndarray  # (B, E)
    cloud_knowledge_mbit: np.ndarray  # (B,)
    sense_buffer_bits: np.ndarray  # (B, U)
    sensed_mbit: np.ndarray  # (B, E) uploaded this frame, Mbit
    edge_up: np.ndarray  # (B, E) bool
    edge_scale: np.ndarray  # (B, E) compute multiplier (1 = nominal)
    ring: dict[str, np.ndarray]  # RING_FIELDS -> (B, H) events booked per slot
    ep: dict[str, np.ndarray]  # episode accumulators, (B,) each
    ep_latency_hist: np.ndarray  # (B, NB) int64 served latencies in LATENCY_BIN_S bins

    @property
    def batch_size(self) -> int:
        return int(self.key.shape[0])


EP_FIELDS = (
    "arrived",
    "served",
    "dropped",
    "met",
    "overflow",
    "invalid",
    "handovers",
    "local_requests",
    "edge_requests",
    "cloud_requests",
    "rejected",
    "quality",
    "latency",
    "energy",
    "cost",
    "reward",
)


def _map(state: State, fn: Any) -> State:
    out = {}
    for f in dataclasses.fields(state):
        v = getattr(state, f.name)
        out[f.name] = {k: fn(a) for k, a in v.items()} if isinstance(v, dict) else fn(v)
    return State(**out)


def take(state: State, idx: np.ndarray) -> State:
    """Sub-batch ``idx`` of ``state`` (copies)."""
    return _map(state, lambda a: a[idx])


def put(state: State, idx: np.ndarray, sub: State) -> None:
    """Write sub-batch ``sub`` into ``state`` at ``idx`` (in place)."""
    for f in dataclasses.fields(state):
        dst, src = getattr(state, f.name), getattr(sub, f.name)
        if isinstance(dst, dict):
            for k in dst:
                dst[k][idx] = src[k]
        else:
            dst[idx] = src


def concat(states: list[State]) -> State:
    """Stack states along the batch dimension."""
    first = states[0]
    out = {}
    for f in dataclasses.fields(first):
        v = getattr(first, f.name)
        if isinstance(v, dict):
            out[f.name] = {k: np.concatenate([getattr(s, f.name)[k] for s in states]) for k in v}
        else:
            out[f.name] = np.concatenate([getattr(s, f.name) for s in states])
    return State(**out)


# --------------------------------------------------------------------------- reset


def reset(keys: np.ndarray, p: Params) -> State:
    """Initial state of ``len(keys)`` sub-envs, one episode key each (uint64)."""
    key = np.asarray(keys, dtype=np.uint64)
    B, U, E, S, R = key.shape[0], p.num_devices, p.num_edges, p.num_services, p.max_new_requests
    H = p.ring_slots
    zero = np.zeros(B, dtype=np.int64)
    mob = p.mobility.init_state(key, U, p.area_m)
    ch = p.channel.init_state(key, (U, E))
    gain_db = p.channel.large_scale_gain_db(ch, mob["pos_m"], p.edge_xy_m)
    plan = np.full((B, E), p.default_plan, dtype=np.int64)
    state = State(
        key=key,
        slot=zero.copy(),
        plan_ptr=zero.copy(),
        req_ptr=zero.copy(),
        n_req=zero.copy(),
        mobility=mob,
        channel=ch,
        arrivals=p.arrivals.init_state(key, U),
        gain_db=gain_db,
        assoc=np.argmax(gain_db, axis=2),
        q_device=np.zeros((B, R), np.int64),
        q_service=np.zeros((B, R), np.int64),
        q_in_units=np.zeros((B, R)),
        q_out_units=np.zeros((B, R)),
        q_deadline_s=np.ones((B, R)),
        q_min_quality=np.zeros((B, R)),
        q_private=np.zeros((B, R), bool),
        up_wait_s=np.zeros((B, E)),
        bh_wait_s=np.zeros((B, E)),
        edge_work_s=np.zeros((B, E)),
        cloud_work_s=np.zeros(B),
        device_work_s=np.zeros((B, U)),
        edge_tier=np.broadcast_to(p.plan_tiers[p.default_plan], (B, E, S)).copy(),
        tier_ready_slot=np.zeros((B, E, S), np.int64),
        plan=plan,
        finetune=p.plan_finetune[plan],
        sensing=p.plan_sensing[plan],
        knowledge_mbit=np.full((B, E), p.initial_knowledge_mbit),
        cloud_knowledge_mbit=np.full(B, p.initial_knowledge_mbit),
        sense_buffer_bits=np.zeros((B, U)),
        sensed_mbit=np.zeros((B, E)),
        edge_up=np.ones((B, E), bool),
        edge_scale=np.ones((B, E)),
        ring={f: np.zeros((B, H)) for f in RING_FIELDS},
        ep={f: np.zeros(B) for f in EP_FIELDS},
        ep_latency_hist=np.zeros((B, p.latency_bins), np.int64),
    )
    _arrive(state, p)
    return state


# ------------------------------------------------------------------ decision context


def decision_type(state: State, p: Params) -> np.ndarray:
    """(B,) DECISION_PLAN, DECISION_REQUEST or DECISION_NONE (episode over)."""
    return np.where(
        state.slot >= p.episode_slots,
        DECISION_NONE,
        np.where(state.plan_ptr < p.num_edges, DECISION_PLAN, DECISION_REQUEST),
    )


def plan_mask(p: Params) -> np.ndarray:
    """(P,) plans that fit an edge's memory."""
    return p.plan_memory_gb <= p.edge_memory_gb + 1e-9


def request_outcomes(state: State, p: Params) -> dict[str, np.ndarray]:
    """Outcome of every option for each sub-env's current request.

    Returns (B, O) arrays over options [local, edge 0..E_max-1, cloud, reject]:
    ``valid``, ``latency_s``, ``quality``, ``energy_j``, ``cost_usd``,
    ``dropped``, ``met``, ``reward``; and (B,)/(B, E) intermediates used to
    book the chosen option. Meaningless (but finite) where the current
    decision is not a request.
    """
    B, E, Em = state.batch_size, p.num_edges, p.max_edges
    ch = p.channel
    rows = np.arange(B)
    r = np.minimum(state.req_ptr, p.max_new_requests - 1)
    u = state.q_device[rows, r]
    s = state.q_service[rows, r]
    in_u, out_u = state.q_in_units[rows, r], state.q_out_units[rows, r]
    deadline = state.q_deadline_s[rows, r]
    min_q = state.q_min_quality[rows, r]
    private = state.q_private[rows, r]
    in_bits, out_bits = in_u * p.bits_per_unit[s], out_u * p.bits_per_unit[s]

    def work(tier: np.ndarray) -> np.ndarray:  # edge-seconds at speed 1
        t = np.maximum(tier, 0)
        ss = s if tier.ndim == 1 else s[:, None]
        iu = in_u if tier.ndim == 1 else in_u[:, None]
        ou = out_u if tier.ndim == 1 else out_u[:, None]
        return (
            p.tier_work_fixed_s[ss, t]
            + p.tier_work_per_in_s[ss, t] * iu
            + p.tier_work_per_out_s[ss, t] * ou
        )

    g_db = state.gain_db[rows, u]  # (B, E)
    fading = state.channel["h_re"][rows, u] ** 2 + state.channel["h_im"][rows, u] ** 2
    g = 10.0 ** (g_db / 10.0) * fading
    full_band_snr_db = g_db + 10 * np.log10(
        ch.device_tx_w / (ch.bs_noise_w_per_hz * p.edge_bandwidth_hz)
    )
    # --- edges
    tier_e = state.edge_tier[rows, :, s]
    ready = state.tier_ready_slot[rows, :, s] <= state.slot[:, None]
    valid_e = (tier_e >= 0) & ready & (full_band_snr_db >= ch.min_snr_db) & state.edge_up
    bw = (1.0 - state.sensing) * p.edge_bandwidth_hz
    rate_up = bw * np.log2(1.0 + ch.device_tx_w * g / (ch.bs_noise_w_per_hz * bw))
    air = in_bits[:, None] / rate_up
    up_end = state.up_wait_s + air
    share = np.maximum((1.0 - state.finetune) * state.edge_scale * state.edge_up, 1e-9)
    work_e = work(tier_e) / p.edge_speed  # s at full edge speed
    comp_end = np.maximum(up_end, state.edge_work_s / (p.edge_servers * share)) + work_e / share
    rate_dl = p.edge_bandwidth_hz * np.log2(
        1.0 + ch.bs_tx_w * g / (ch.device_noise_w_per_hz * p.edge_bandwidth_hz)
    )
    t_dl = out_bits[:, None] / rate_dl
    lat_e = comp_end + t_dl
    kfac_e = 1.0 - np.exp(-state.knowledge_mbit / p.knowledge_scale_mbit)
    q_e = p.tier_quality[s[:, None], np.maximum(tier_e, 0)] + p.finetune_gain[s][:, None] * kfac_e
    en_e = ch.device_tx_w * air + p.edge_power_w * work_e / share
    # --- cloud, through the associated edge and its backhaul
    a = state.assoc[rows, u]
    bh_end = np.maximum(up_end[rows, a], state.bh_wait_s[rows, a]) + in_bits / p.backhaul_bps
    work_c = work(np.full(B, 2)) / p.cloud_speed
    start_c = np.maximum(bh_end + p.backhaul_latency_s, state.cloud_work_s / p.cloud_servers)
    lat_c = start_c + work_c + out_bits / p.backhaul_bps + p.backhaul_latency_s + t_dl[rows, a]
    kfac_c = 1.0 - np.exp(-state.cloud_knowledge_mbit / p.knowledge_scale_mbit)
    q_c = p.tier_quality[s, 2] + p.finetune_gain[s] * kfac_c
    en_c = ch.device_tx_w * air[rows, a] + p.cloud_power_w * work_c
    # --- local
    tier_l = p.device_tier[s]
    work_l = work(tier_l) / p.device_speed
    lat_l = state.device_work_s[rows, u] + work_l
    q_l = p.tier_quality[s, np.maximum(tier_l, 0)]
    # --- assemble [local, edges (padded), cloud, reject]
    O = p.num_options
    pad = Em - E

    def assemble(local, edge, cloud, reject, fill=0.0):  # type: ignore[no-untyped-def]
        parts = [local[:, None], edge]
        if pad:
            parts.append(np.full((B, pad), fill, dtype=np.asarray(edge).dtype))
        parts += [cloud[:, None], reject[:, None]]
        return np.concatenate(parts, axis=1)

    zeros, ones = np.zeros(B), np.ones(B, bool)
    valid = assemble(tier_l >= 0, valid_e, ~private, ones, fill=False)
    latency = assemble(lat_l, lat_e, lat_c, zeros)
    quality = assemble(q_l, q_e, q_c, zeros)
    energy = assemble(p.device_power_w * work_l, en_e, en_c, zeros)
    cost = assemble(zeros, np.zeros((B, E)), p.cloud_price_per_s * work_c, zeros)
    dropped = latency > deadline[:, None]
    dropped[:, O - 1] = True
    met = ~dropped & (quality >= min_q[:, None])
    reward = p.reward.request_reward(quality, met, dropped, latency, energy, cost)
    return {
        "valid": valid,
        "latency_s": latency,
        "quality": quality,
        "energy_j": energy,
        "cost_usd": cost,
        "dropped": dropped,
        "met": met,
        "reward": reward,
        "device": u,
        "service": s,
        "deadline_s": deadline,
        "assoc": a,
        "up_end_s": up_end,
        "bh_end_s": bh_end,
        "work_edge_s": work_e,
        "work_cloud_s": work_c,
        "work_local_s": work_l,
        "gain_db": g_db,
        "in_bits": in_bits,
    }


def action_mask(
    state: State, p: Params, outcomes: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """(B, N) valid actions of the current decision (N = ``p.num_actions``)."""
    B, N = state.batch_size, p.num_actions
    mask = np.zeros((B, N), dtype=bool)
    dtype = decision_type(state, p)
    mask[dtype == DECISION_PLAN, : p.num_plans] = plan_mask(p)
    req = dtype == DECISION_REQUEST
    if req.any():
        out = outcomes if outcomes is not None else request_outcomes(state, p)
        mask[req, : p.num_options] = out["valid"][req]
    mask[dtype == DECISION_NONE, 0] = True  # any action is accepted after the end
    return mask


# ---------------------------------------------------------------------- transition


def step(
    state: State,
    action: np.ndarray,
    p: Params,
    outcomes: dict[str, np.ndarray] | None = None,
) -> tuple[State, np.ndarray, dict[str, np.ndarray]]:
    """Apply one decision per sub-env and advance time where the slot is decided.

    Args:
        state: the batched state (modified in place and returned).
        action: (B,) int64 action indices in [0, p.num_actions).
        p: scenario parameters.
        outcomes: ``request_outcomes(state, p)`` if already computed.

    Returns:
        (state, reward (B,), info) where info holds (B,) arrays of what the
        call's slots produced: ``served``, ``dropped``, ``met``, ``quality``
        (sum), ``latency_s`` (sum), ``energy_j``, ``cost_usd``, ``invalid``,
        ``slots_advanced``.
    """
    B = state.batch_size
    action = np.asarray(action, dtype=np.int64)
    dtype = decision_type(state, p)
    reward = np.zeros(B)
    info = {
        k: np.zeros(B)
        for k in (
            "served",
            "dropped",
            "met",
            "quality",
            "latency_s",
            "energy_j",
            "cost_usd",
            "invalid",
            "slots_advanced",
        )
    }
    is_plan = np.flatnonzero(dtype == DECISION_PLAN)
    if is_plan.size:
        _apply_plan(state, p, is_plan, action[is_plan], info)
    is_req = np.flatnonzero(dtype == DECISION_REQUEST)
    if is_req.size:
        out = outcomes if outcomes is not None else request_outcomes(state, p)
        _apply_request(state, p, is_req, action[is_req], out, info)
    reward -= p.reward.w_invalid * info["invalid"]
    state.ep["reward"] -= p.reward.w_invalid * info["invalid"]
    # Advance every sub-env whose slot is fully decided, repeatedly while slots are empty.
    while True:
        need = np.flatnonzero(
            (state.slot < p.episode_slots)
            & (state.plan_ptr >= p.num_edges)
            & (state.req_ptr >= state.n_req)
        )
        if need.size == 0:
            break
        sub = take(state, need) if need.size < B else state
        r, slot_info = _advance(sub, p)
        if sub is not state:
            put(state, need, sub)
        reward[need] += r
        for k, v in slot_info.items():
            info[k][need] += v
        info["slots_advanced"][need] += 1
    return state, reward, info


def _apply_plan(
    state: State, p: Params, idx: np.ndarray, act: np.ndarray, info: dict[str, np.ndarray]
) -> None:
    e = state.plan_ptr[idx]
    ok = (act < p.num_plans) & plan_mask(p)[np.minimum(act, p.num_plans - 1)]
    info["invalid"][idx] += ~ok
    state.ep["invalid"][idx] += ~ok
    go, eg, ag = idx[ok], e[ok], act[ok]
    new_tiers = p.plan_tiers[ag]  # (n, S)
    old = state.edge_tier[go, eg]
    changed = (new_tiers != old) & (new_tiers >= 0)
    mem = p.tier_memory_gb[np.arange(p.num_services)[None, :], np.maximum(new_tiers, 0)]
    load_slots = np.ceil(np.where(changed, mem, 0.0) / p.model_load_gb_per_s / p.slot_s)
    state.tier_ready_slot[go, eg] = np.where(
        changed, state.slot[go, None] + load_slots.astype(np.int64), state.tier_ready_slot[go, eg]
    )
    state.edge_tier[go, eg] = new_tiers
    state.plan[go, eg] = ag
    state.finetune[go, eg] = p.plan_finetune[ag]
    state.sensing[go, eg] = p.plan_sensing[ag]
    state.plan_ptr[idx] += 1


def _book(
    state: State,
    p: Params,
    idx: np.ndarray,
    offset_slots: np.ndarray,
    values: dict[str, np.ndarray],
) -> None:
    """Book request events of sub-envs ``idx`` into the ring, ``offset_slots`` ahead."""
    h = (state.slot[idx] + offset_slots) % p.ring_slots
    for k, v in values.items():
        state.ring[k][idx, h] += v


def _apply_request(
    state: State,
    p: Params,
    idx: np.ndarray,
    act: np.ndarray,
    out: dict[str, np.ndarray],
    info: dict[str, np.ndarray],
) -> None:
    O = p.num_options
    reject = O - 1
    in_range = act < O
    a = np.where(in_range, act, reject)
    ok = in_range & out["valid"][idx, a]
    info["invalid"][idx] += ~ok
    state.ep["invalid"][idx] += ~ok
    a = np.where(ok, a, reject)  # a forbidden choice rejects the request
    pick = lambda k: out[k][idx, a]
    dropped = pick("dropped")
    latency, quality = pick("latency_s"), pick("quality")
    deadline = out["deadline_s"][idx]
    when_s = np.where(a == reject, 0.0, np.where(dropped, deadline, latency))
    offset = np.floor(when_s / p.slot_s + 1e-9).astype(np.int64)
    served = ~dropped
    _book(
        state,
        p,
        idx,
        offset,
        {
            "reward": pick("reward"),
            "served": served,
            "dropped": dropped,
            "met": pick("met"),
            "quality": quality * served,
            "latency": latency * served,
            "energy": pick("energy_j"),
            "cost": pick("cost_usd"),
        },
    )
    in_episode = served & (state.slot[idx] + offset < p.episode_slots)
    b = np.minimum((latency / LATENCY_BIN_S).astype(np.int64), p.latency_bins - 1)
    state.ep_latency_hist[idx[in_episode], b[in_episode]] += 1
    # Occupy the chosen resources.
    u, ae = out["device"][idx], out["assoc"][idx]
    is_local, is_cloud = a == 0, a == O - 2
    is_edge = (a >= 1) & (a <= p.max_edges)
    e = np.clip(a - 1, 0, p.num_edges - 1)
    i = idx[is_local]
    state.device_work_s[i, u[is_local]] += out["work_local_s"][i]
    i, ee = idx[is_edge], e[is_edge]
    state.up_wait_s[i, ee] = out["up_end_s"][i, ee]
    state.edge_work_s[i, ee] += out["work_edge_s"][i, ee]
    i, ac = idx[is_cloud], ae[is_cloud]
    state.up_wait_s[i, ac] = out["up_end_s"][i, ac]
    state.bh_wait_s[i, ac] = out["bh_end_s"][i]
    state.cloud_work_s[i] += out["work_cloud_s"][i]
    state.ep["local_requests"][idx] += is_local
    state.ep["edge_requests"][idx] += is_edge
    state.ep["cloud_requests"][idx] += is_cloud
    state.ep["rejected"][idx] += a == reject
    state.req_ptr[idx] += 1


def _advance(s: State, p: Params) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Advance every sub-env of ``s`` by one slot (in place). Returns the slot's
    reward and per-slot event sums."""
    B, _U, E = s.batch_size, p.num_devices, p.num_edges
    ch = p.channel
    rows = np.arange(B)
    h = s.slot % p.ring_slots
    ev = {k: s.ring[k][rows, h].copy() for k in RING_FIELDS}
    for k in RING_FIELDS:
        s.ring[k][rows, h] = 0.0
    # Sensing during the slot: devices of an edge with a sensing share fill
    # their buffers and upload over an equal split of that share.
    on = s.sensing[rows[:, None], s.assoc] > 0  # (B, U)
    s.sense_buffer_bits = np.minimum(
        s.sense_buffer_bits + p.sensing_rate_bps * p.slot_s * on, p.sensing_buffer_bits
    )
    onehot = s.assoc[:, :, None] == np.arange(E)[None, None, :]  # (B, U, E)
    n_on = np.sum(onehot & on[:, :, None], axis=1)  # (B, E)
    bw = (
        s.sensing[rows[:, None], s.assoc]
        * p.edge_bandwidth_hz
        / np.maximum(n_on[rows[:, None], s.assoc], 1)
    )
    g_assoc = 10.0 ** (np.take_along_axis(s.gain_db, s.assoc[:, :, None], 2)[..., 0] / 10.0)
    g_assoc = g_assoc * (
        np.take_along_axis(s.channel["h_re"], s.assoc[:, :, None], 2)[..., 0] ** 2
        + np.take_along_axis(s.channel["h_im"], s.assoc[:, :, None], 2)[..., 0] ** 2
    )
    bw_safe = np.maximum(bw, 1e-9)
    rate = np.where(
        on, bw * np.log2(1.0 + ch.device_tx_w * g_assoc / (ch.bs_noise_w_per_hz * bw_safe)), 0.0
    )
    up_bits = np.minimum(s.sense_buffer_bits, rate * p.slot_s)
    s.sense_buffer_bits = s.sense_buffer_bits - up_bits
    s.sensed_mbit = s.sensed_mbit + np.sum(onehot * (up_bits / 1e6)[:, :, None], axis=1)
    up_time = np.divide(up_bits, rate, out=np.zeros_like(up_bits), where=rate > 0)
    overhead_j = ch.device_tx_w * up_time.sum(axis=1) + p.edge_power_w * p.slot_s * np.sum(
        s.finetune * s.edge_scale * s.edge_up, 1
    )
    reward = ev["reward"] + p.reward.slot_reward(overhead_j)
    # Queues drain.
    share = (1.0 - s.finetune) * s.edge_scale * s.edge_up
    s.edge_work_s = np.maximum(s.edge_work_s - p.edge_servers * share * p.slot_s, 0.0)
    s.up_wait_s = np.maximum(s.up_wait_s - p.slot_s, 0.0)
    s.bh_wait_s = np.maximum(s.bh_wait_s - p.slot_s, 0.0)
    s.cloud_work_s = np.maximum(s.cloud_work_s - p.cloud_servers * p.slot_s, 0.0)
    s.device_work_s = np.maximum(s.device_work_s - p.slot_s, 0.0)
    # Episode accounting of this slot's events.
    for k_ep, k_ev in [
        ("served", "served"),
        ("dropped", "dropped"),
        ("met", "met"),
        ("quality", "quality"),
        ("latency", "latency"),
        ("cost", "cost"),
    ]:
        s.ep[k_ep] += ev[k_ev]
    s.ep["energy"] += ev["energy"] + overhead_j
    s.ep["reward"] += reward
    # Time moves: mobility, channel, association.
    s.slot = s.slot + 1
    t = s.slot
    s.mobility, moved = p.mobility.step(s.mobility, s.key, t, p.slot_s, p.area_m)
    s.channel = ch.evolve(s.channel, s.key, t, moved, s.mobility["speed_mps"], p.slot_s)
    s.gain_db = ch.large_scale_gain_db(s.channel, s.mobility["pos_m"], p.edge_xy_m)
    best = np.argmax(s.gain_db, axis=2)
    cur = np.take_along_axis(s.gain_db, s.assoc[:, :, None], 2)[..., 0]
    better = np.take_along_axis(s.gain_db, best[:, :, None], 2)[..., 0]
    handover = better > cur + ch.handover_hysteresis_db
    s.assoc = np.where(handover, best, s.assoc)
    s.ep["handovers"] += handover.sum(axis=1)
    # Frame boundary: knowledge from fine-tuning sensed data, decay, relay to cloud.
    frame = (t % p.frame_slots == 0) & (t < p.episode_slots)
    if frame.any():
        f = np.flatnonzero(frame)
        ft_cap = (
            s.finetune[f]
            * s.edge_scale[f]
            * s.edge_up[f]
            * p.edge_speed
            * p.frame_slots
            * p.slot_s
            * p.finetune_mbit_per_s
        )
        gain = np.minimum(s.sensed_mbit[f], ft_cap)
        s.knowledge_mbit[f] = p.knowledge_decay * s.knowledge_mbit[f] + gain
        s.cloud_knowledge_mbit[f] = p.knowledge_decay * s.cloud_knowledge_mbit[
            f
        ] + p.cloud_relay_fraction * gain.sum(axis=1)
        s.sensed_mbit[f] = 0.0
    s.plan_ptr = np.where(frame, 0, E)
    slot_info = {
        "served": ev["served"],
        "dropped": ev["dropped"],
        "met": ev["met"],
        "quality": ev["quality"],
        "latency_s": ev["latency"],
        "energy_j": ev["energy"] + overhead_j,
        "cost_usd": ev["cost"],
    }
    _arrive(s, p)
    return reward, slot_info


def _arrive(s: State, p: Params) -> None:
    """Draw the requests of slot ``s.slot`` into the queue (none at the episode's end)."""
    B, U, R = s.batch_size, p.num_devices, p.max_new_requests
    t = s.slot
    s.arrivals, counts = p.arrivals.sample(s.arrivals, s.key, t, U, p.load, p.slot_s)
    counts = np.where((t < p.episode_slots)[:, None], counts, 0)
    n = counts.sum(axis=1)
    s.ep["arrived"] += n
    overflow = np.maximum(n - R, 0)
    if overflow.any():  # the queue holds R per slot; the rest are dropped, and counted
        s.ep["overflow"] += overflow
        _book(
            s,
            p,
            np.arange(B),
            np.zeros(B, np.int64),
            {"dropped": overflow.astype(float), "reward": -p.reward.w_drop * overflow},
        )
    s.n_req = np.minimum(n, R)
    s.req_ptr = np.zeros(B, np.int64)
    if not n.any():
        return
    # Arrival order within the slot is random: sort (env, uniform key) pairs.
    order_key = rng.uniform(s.key, t, rng.Stream.ARRIVAL_ORDER, (U,))
    flat = np.repeat(np.arange(B * U), counts.ravel())
    env = flat // U
    order = np.lexsort((order_key.ravel()[flat], env))
    flat, env = flat[order], env[order]
    start = np.concatenate([[0], np.cumsum(n)[:-1]])
    rank = np.arange(flat.size) - start[env]
    keep = rank < R
    env, rank, dev = env[keep], rank[keep], flat[keep] % U
    s.q_device[env, rank] = dev
    # Request fields per queue position (so a sub-env's draws do not depend on B).
    v = rng.uniform(s.key, t, rng.Stream.REQUEST_FIELDS, (R, 6))[env, rank]
    svc = np.minimum(
        np.searchsorted(np.cumsum(p.service_share), v[:, 0], side="right"), p.num_services - 1
    )
    lerp = lambda lo, hi, x: lo[svc] + (hi[svc] - lo[svc]) * x
    s.q_service[env, rank] = svc
    s.q_deadline_s[env, rank] = lerp(p.deadline_lo_s, p.deadline_hi_s, v[:, 1])
    s.q_in_units[env, rank] = np.round(lerp(p.in_units_lo, p.in_units_hi, v[:, 2]))
    s.q_out_units[env, rank] = np.round(lerp(p.out_units_lo, p.out_units_hi, v[:, 3]))
    s.q_min_quality[env, rank] = lerp(p.min_quality_lo, p.min_quality_hi, v[:, 4])
    s.q_private[env, rank] = v[:, 5] < p.private_prob[svc]


# ------------------------------------------------------------------------- metrics


def pending(state: State) -> np.ndarray:
    """(B,) requests decided but not yet served or dropped."""
    return state.ring["served"].sum(axis=1) + state.ring["dropped"].sum(axis=1)


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
    return {
        "reward": ep["reward"].copy(),
        "arrived": ep["arrived"].copy(),
        "served": served.copy(),
        "dropped": dropped.copy(),
        "pending": pending(state) + undecided(state),
        "deadline_met_ratio": div(ep["met"], finished),
        "mean_latency_s": div(ep["latency"], served),
        "p95_latency_s": np.where(total > 0, (p95_bin + 1) * LATENCY_BIN_S, 0.0),
        "mean_quality": div(ep["quality"], served),
        "energy_j": ep["energy"].copy(),
        "cloud_cost_usd": ep["cost"].copy(),
        "invalid_actions": ep["invalid"].copy(),
        "handovers": ep["handovers"].copy(),
        "overflow": ep["overflow"].copy(),
        "local_requests": ep["local_requests"].copy(),
        "edge_requests": ep["edge_requests"].copy(),
        "cloud_requests": ep["cloud_requests"].copy(),
        "rejected": ep["rejected"].copy(),
    }
