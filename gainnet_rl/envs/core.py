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
# Episode accumulators; the first block mirrors RING_FIELDS so a slot's events add in one go.
EP_FIELDS = (
    *RING_FIELDS,
    "arrived",
    "overflow",
    "invalid",
    "handovers",
    "local_requests",
    "edge_requests",
    "cloud_requests",
    "rejected",
)
# Per-call sums returned by :func:`step`; the first block mirrors RING_FIELDS[1:].
STEP_INFO = (
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
_R = {k: i for i, k in enumerate(RING_FIELDS)}
_EP = {k: i for i, k in enumerate(EP_FIELDS)}
_NR = len(RING_FIELDS)
_INFO_INVALID, _INFO_SLOTS = STEP_INFO.index("invalid"), STEP_INFO.index("slots_advanced")


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
    ring_events: np.ndarray  # (B, H, len(RING_FIELDS)) request events booked per slot
    ep_totals: np.ndarray  # (B, len(EP_FIELDS)) episode accumulators
    ep_latency_hist: np.ndarray  # (B, NB) int64 served latencies in LATENCY_BIN_S bins

    @property
    def batch_size(self) -> int:
        return int(self.key.shape[0])

    @property
    def ring(self) -> dict[str, np.ndarray]:
        """RING_FIELDS -> (B, H) views of ``ring_events`` (writes go through)."""
        return {k: self.ring_events[:, :, i] for i, k in enumerate(RING_FIELDS)}

    @property
    def ep(self) -> dict[str, np.ndarray]:
        """EP_FIELDS -> (B,) views of ``ep_totals`` (writes go through)."""
        return {k: self.ep_totals[:, i] for i, k in enumerate(EP_FIELDS)}


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


class _Rows:
    """Gather and scatter of the sub-envs ``idx`` of a state (all when ``idx`` is
    None: then reads are the state's own arrays and writes rebind them)."""

    def __init__(self, state: State, idx: np.ndarray | None) -> None:
        self.state, self.idx = state, idx
        self.n = state.batch_size if idx is None else idx.size
        self.rows = _arange(self.n) if idx is None else idx  # row indices, for pairs
        self.sel: slice | np.ndarray = slice(None) if idx is None else idx  # row selection

    def get(self, name: str) -> Any:
        v = getattr(self.state, name)
        if self.idx is None:
            return v
        return {k: a[self.idx] for k, a in v.items()} if isinstance(v, dict) else v[self.idx]

    def set(self, name: str, value: Any) -> None:
        if self.idx is None:
            setattr(self.state, name, value)
        elif isinstance(value, dict):
            dst = getattr(self.state, name)
            for k, a in value.items():
                dst[k][self.idx] = a
        else:
            getattr(self.state, name)[self.idx] = value


_ARANGE: dict[int, np.ndarray] = {}


def _arange(n: int) -> np.ndarray:
    """Read-only ``np.arange(n)`` (int64), cached."""
    a = _ARANGE.get(n)
    if a is None:
        a = np.arange(n, dtype=np.int64)
        a.flags.writeable = False
        if len(_ARANGE) < 256:
            _ARANGE[n] = a
    return a


_DB_TO_LN = np.log(10.0) / 10.0


def _db_to_linear(x_db: np.ndarray) -> np.ndarray:
    """``10 ** (x / 10)`` as ``exp(x ln10 / 10)`` (numpy's exp vectorises, its power does not)."""
    return np.exp(x_db * _DB_TO_LN)


def _max_last(x: np.ndarray) -> np.ndarray:
    """Max over the short last axis of ``x`` (n, U, E).

    numpy reduces a short last axis row by row, slowly; for large arrays the
    reduction runs over a leading copy of that axis instead (same values).
    """
    if x.size < 4096:
        return np.max(x, axis=-1)
    return np.moveaxis(x, -1, 0).copy().max(axis=0)


@dataclass(frozen=True)
class _Derived:
    """Constants derived from Params once (see :func:`_derived`)."""

    plan_mask: np.ndarray  # (P,) bool
    snr_offset_db: float  # device tx power over full-band noise, dB
    work_table: np.ndarray  # (S, M, 3) fixed, per-input-unit, per-output-unit edge-seconds
    service_cdf: np.ndarray  # (S,) cumulative request share
    services: np.ndarray  # (S,) int64 arange


def _derived(p: Params) -> _Derived:
    """Per-Params constants, computed on first use and kept on the (frozen) instance."""
    d = p.__dict__.get("_core_derived")
    if d is None:
        ch = p.channel
        d = _Derived(
            plan_mask=p.plan_allowed,
            snr_offset_db=10
            * np.log10(ch.device_tx_w / (ch.bs_noise_w_per_hz * p.edge_bandwidth_hz)),
            work_table=np.stack(
                [p.tier_work_fixed_s, p.tier_work_per_in_s, p.tier_work_per_out_s], axis=-1
            ),
            service_cdf=np.cumsum(p.service_share),
            services=np.arange(p.num_services),
        )
        for a in (d.plan_mask, d.work_table, d.service_cdf, d.services):
            a.flags.writeable = False
        p.__dict__["_core_derived"] = d
    return d


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
        edge_up=np.broadcast_to(p.edge_up_sched[0], (B, E)).copy(),
        edge_scale=np.broadcast_to(p.edge_scale_sched[0], (B, E)).copy(),
        ring_events=np.zeros((B, H, _NR)),
        ep_totals=np.zeros((B, len(EP_FIELDS))),
        ep_latency_hist=np.zeros((B, p.latency_bins), np.int64),
    )
    _arrive(state, p, None)
    return state


# ------------------------------------------------------------------ decision context


def compute_share(state: State) -> np.ndarray:
    """(B, E) share of each edge's nominal compute that serves requests: one
    less the fine-tuning share, times the speed multiplier, zero while down;
    floored at 1e-9 (a down edge's wait is huge, not infinite)."""
    return np.maximum((1.0 - state.finetune) * state.edge_scale * state.edge_up, 1e-9)


def decision_type(state: State, p: Params) -> np.ndarray:
    """(B,) DECISION_PLAN, DECISION_REQUEST or DECISION_NONE (episode over)."""
    # DECISION_PLAN = 0, DECISION_REQUEST = 1: the plan pointer past the last edge
    return np.where(state.slot >= p.episode_slots, DECISION_NONE, state.plan_ptr >= p.num_edges)


def plan_mask(p: Params) -> np.ndarray:
    """(P,) plans an edge may take: they fit its memory (and hold no sensing or
    fine-tuning when ``knowledge_flow`` is off)."""
    return _derived(p).plan_mask.copy()


def request_outcomes(state: State, p: Params) -> dict[str, np.ndarray]:
    """Outcome of every option for each sub-env's current request.

    Returns (B, O) arrays over options [local, edge 0..E_max-1, cloud, reject]:
    ``valid``, ``latency_s``, ``quality``, ``energy_j``, ``cost_usd``,
    ``dropped``, ``met``, ``reward``; and (B,)/(B, E) intermediates used to
    book the chosen option. Meaningless (but finite) where the current
    decision is not a request.
    """
    B, E, O = state.batch_size, p.num_edges, p.num_options
    ch, d = p.channel, _derived(p)
    rows = _arange(B)
    r = np.minimum(state.req_ptr, p.max_new_requests - 1)
    u = state.q_device[rows, r]
    s = state.q_service[rows, r]
    in_u, out_u = state.q_in_units[rows, r], state.q_out_units[rows, r]
    deadline = state.q_deadline_s[rows, r]
    min_q = state.q_min_quality[rows, r]
    private = state.q_private[rows, r]
    bits_per_unit = p.bits_per_unit[s]
    in_bits, out_bits = in_u * bits_per_unit, out_u * bits_per_unit

    def work(w: np.ndarray, iu: np.ndarray, ou: np.ndarray) -> np.ndarray:
        # edge-seconds at speed 1 from work_table rows w (..., 3)
        return w[..., 0] + w[..., 1] * iu + w[..., 2] * ou

    g_db = state.gain_db[rows, u]  # (B, E)
    fading = state.channel["h_re"][rows, u] ** 2 + state.channel["h_im"][rows, u] ** 2
    g = _db_to_linear(g_db) * fading
    # --- edges
    tier_e = state.edge_tier[rows, :, s]
    ready = state.tier_ready_slot[rows, :, s] <= state.slot[:, None]
    valid_e = (tier_e >= 0) & ready & (g_db + d.snr_offset_db >= ch.min_snr_db) & state.edge_up
    bw = (1.0 - state.sensing) * p.edge_bandwidth_hz
    rate_up = bw * np.log2(1.0 + ch.device_tx_w * g / (ch.bs_noise_w_per_hz * bw))
    air = in_bits[:, None] / rate_up
    up_end = state.up_wait_s + air
    share = compute_share(state)
    tier_e0 = np.maximum(tier_e, 0)
    work_e = work(d.work_table[s[:, None], tier_e0], in_u[:, None], out_u[:, None]) / p.edge_speed
    comp_end = np.maximum(up_end, state.edge_work_s / (p.edge_servers * share)) + work_e / share
    rate_dl = p.edge_bandwidth_hz * np.log2(
        1.0 + ch.bs_tx_w * g / (ch.device_noise_w_per_hz * p.edge_bandwidth_hz)
    )
    t_dl = out_bits[:, None] / rate_dl
    lat_e = comp_end + t_dl
    kfac_e = 1.0 - np.exp(-state.knowledge_mbit / p.knowledge_scale_mbit)
    q_e = p.tier_quality[s[:, None], tier_e0] + p.finetune_gain[s][:, None] * kfac_e
    en_e = ch.device_tx_w * air + p.edge_power_w * work_e / share
    # --- cloud, through the associated edge and its backhaul
    a = state.assoc[rows, u]
    bh_end = np.maximum(up_end[rows, a], state.bh_wait_s[rows, a]) + in_bits / p.backhaul_bps
    work_c = work(d.work_table[s, 2], in_u, out_u) / p.cloud_speed
    start_c = np.maximum(bh_end + p.backhaul_latency_s, state.cloud_work_s / p.cloud_servers)
    lat_c = start_c + work_c + out_bits / p.backhaul_bps + p.backhaul_latency_s + t_dl[rows, a]
    kfac_c = 1.0 - np.exp(-state.cloud_knowledge_mbit / p.knowledge_scale_mbit)
    q_c = p.tier_quality[s, 2] + p.finetune_gain[s] * kfac_c
    en_c = ch.device_tx_w * air[rows, a] + p.cloud_power_w * work_c
    # --- local
    tier_l = p.device_tier[s]
    tier_l0 = np.maximum(tier_l, 0)
    work_l = work(d.work_table[s, tier_l0], in_u, out_u) / p.device_speed
    lat_l = state.device_work_s[rows, u] + work_l
    q_l = p.tier_quality[s, tier_l0]
    # --- assemble [local, edges (padded with zeros), cloud, reject (zeros)]
    latency, quality, energy, cost = np.zeros((4, B, O))
    for out, local, edge, cloud in (
        (latency, lat_l, lat_e, lat_c),
        (quality, q_l, q_e, q_c),
        (energy, p.device_power_w * work_l, en_e, en_c),
    ):
        out[:, 0], out[:, 1 : 1 + E], out[:, O - 2] = local, edge, cloud
    cost[:, O - 2] = p.cloud_price_per_s * work_c
    valid = np.zeros((B, O), dtype=bool)
    valid[:, 0], valid[:, 1 : 1 + E], valid[:, O - 2], valid[:, O - 1] = (
        tier_l >= 0,
        valid_e,
        ~private,
        True,
    )
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
    mask[dtype == DECISION_PLAN, : p.num_plans] = _derived(p).plan_mask
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
        ``slots_advanced`` (:data:`STEP_INFO`).
    """
    B = state.batch_size
    action = np.asarray(action, dtype=np.int64)
    dtype = decision_type(state, p)
    reward = np.zeros(B)
    acc = np.zeros((len(STEP_INFO), B))  # rows: STEP_INFO
    is_plan = np.flatnonzero(dtype == DECISION_PLAN)
    if is_plan.size:
        _apply_plan(state, p, is_plan, action[is_plan], acc[_INFO_INVALID])
    is_req = np.flatnonzero(dtype == DECISION_REQUEST)
    if is_req.size:
        out = outcomes if outcomes is not None else request_outcomes(state, p)
        _apply_request(state, p, is_req, action[is_req], out, acc[_INFO_INVALID])
    penalty = p.reward.w_invalid * acc[_INFO_INVALID]
    reward -= penalty
    state.ep_totals[:, _EP["reward"]] -= penalty
    # Advance every sub-env whose slot is fully decided, repeatedly while slots are empty.
    while True:
        need = np.flatnonzero(
            (state.slot < p.episode_slots)
            & (state.plan_ptr >= p.num_edges)
            & (state.req_ptr >= state.n_req)
        )
        if need.size == 0:
            break
        sel = need if need.size < B else slice(None)
        ev = _advance(state, p, need if need.size < B else None)
        reward[sel] += ev[:, _R["reward"]]
        acc[: _NR - 1, sel] += ev[:, 1:].T
        acc[_INFO_SLOTS, sel] += 1
    return state, reward, dict(zip(STEP_INFO, acc, strict=True))


def _apply_plan(
    state: State, p: Params, idx: np.ndarray, act: np.ndarray, invalid: np.ndarray
) -> None:
    e = state.plan_ptr[idx]
    ok = (act < p.num_plans) & _derived(p).plan_mask[np.minimum(act, p.num_plans - 1)]
    invalid[idx] += ~ok
    state.ep_totals[idx, _EP["invalid"]] += ~ok
    go, eg, ag = idx[ok], e[ok], act[ok]
    new_tiers = p.plan_tiers[ag]  # (n, S)
    old = state.edge_tier[go, eg]
    changed = (new_tiers != old) & (new_tiers >= 0)
    state.tier_ready_slot[go, eg] = np.where(
        changed,
        state.slot[go, None] + _load_slots(p, new_tiers, changed),
        state.tier_ready_slot[go, eg],
    )
    state.edge_tier[go, eg] = new_tiers
    state.plan[go, eg] = ag
    state.finetune[go, eg] = p.plan_finetune[ag]
    state.sensing[go, eg] = p.plan_sensing[ag]
    state.plan_ptr[idx] += 1


def _load_slots(p: Params, tiers: np.ndarray, load: np.ndarray) -> np.ndarray:
    """Slots it takes to load each tier in ``tiers`` (..., S) where ``load`` is
    True (0 elsewhere): its memory at ``model_load_gb_per_s``, whole slots."""
    mem = p.tier_memory_gb[_derived(p).services, np.maximum(tiers, 0)]
    return np.ceil(np.where(load, mem, 0.0) / p.model_load_gb_per_s / p.slot_s).astype(np.int64)


def _apply_request(
    state: State,
    p: Params,
    idx: np.ndarray,
    act: np.ndarray,
    out: dict[str, np.ndarray],
    invalid: np.ndarray,
) -> None:
    O = p.num_options
    reject = O - 1
    in_range = act < O
    a = np.where(in_range, act, reject)
    ok = in_range & out["valid"][idx, a]
    invalid[idx] += ~ok
    state.ep_totals[idx, _EP["invalid"]] += ~ok
    a = np.where(ok, a, reject)  # a forbidden choice rejects the request
    pick = lambda k: out[k][idx, a]
    dropped, reward, met = pick("dropped"), pick("reward"), pick("met")
    latency, quality = pick("latency_s"), pick("quality")
    deadline = out["deadline_s"][idx]
    when_s = np.where(a == reject, 0.0, np.where(dropped, deadline, latency))
    offset = np.floor(when_s / p.slot_s + 1e-9).astype(np.int64)
    is_edge = (a >= 1) & (a <= p.max_edges)
    e = np.minimum(np.maximum(a - 1, 0), p.num_edges - 1)
    if p.has_events:
        # A scheduled outage before the request completes: it is lost (dropped)
        # in the failure slot. The outcomes the policy saw did not foresee it.
        fail_in = p.edge_down_at[state.slot[idx], e] - state.slot[idx]
        lost = is_edge & (offset >= fail_in)
        if lost.any():
            offset = np.where(lost, fail_in, offset)
            dropped, met = dropped | lost, met & ~lost
            lost_reward = p.reward.request_reward(
                quality, met, dropped, latency, pick("energy_j"), pick("cost_usd")
            )
            reward = np.where(lost, lost_reward, reward)
    served = ~dropped
    # Book the request's events into the ring, ``offset`` slots ahead (RING_FIELDS order).
    events = np.stack(
        [
            reward,
            served,
            dropped,
            met,
            quality * served,
            latency * served,
            pick("energy_j"),
            pick("cost_usd"),
        ],
        axis=1,
    )
    state.ring_events[idx, (state.slot[idx] + offset) % p.ring_slots] += events
    in_episode = served & (state.slot[idx] + offset < p.episode_slots)
    b = np.minimum((latency / LATENCY_BIN_S).astype(np.int64), p.latency_bins - 1)
    state.ep_latency_hist[idx[in_episode], b[in_episode]] += 1
    # Occupy the chosen resources.
    u, ae = out["device"][idx], out["assoc"][idx]
    is_local, is_cloud = a == 0, a == O - 2
    i = idx[is_local]
    state.device_work_s[i, u[is_local]] += out["work_local_s"][i]
    i, ee = idx[is_edge], e[is_edge]
    state.up_wait_s[i, ee] = out["up_end_s"][i, ee]
    state.edge_work_s[i, ee] += out["work_edge_s"][i, ee]
    i, ac = idx[is_cloud], ae[is_cloud]
    state.up_wait_s[i, ac] = out["up_end_s"][i, ac]
    state.bh_wait_s[i, ac] = out["bh_end_s"][i]
    state.cloud_work_s[i] += out["work_cloud_s"][i]
    # local_requests, edge_requests, cloud_requests, rejected (adjacent in EP_FIELDS)
    state.ep_totals[idx, _EP["local_requests"] : _EP["rejected"] + 1] += np.stack(
        [is_local, is_edge, is_cloud, a == reject], axis=1
    )
    state.req_ptr[idx] += 1


def _advance(s: State, p: Params, idx: np.ndarray | None) -> np.ndarray:
    """Advance sub-envs ``idx`` of ``s`` (all when None) by one slot, in place.

    Returns an (n, len(RING_FIELDS)) array of the slot's event sums per
    advanced sub-env; its ``reward`` column is the slot's reward and its
    ``energy`` column includes the slot's sensing and fine-tuning energy.
    """
    E, U = p.num_edges, p.num_devices
    ch = p.channel
    sub = _Rows(s, idx)
    n, rows = sub.n, sub.rows
    # Events booked for this slot, then cleared from the ring.
    h = sub.get("slot") % p.ring_slots
    ev = s.ring_events[rows, h]  # (n, F) copy
    s.ring_events[rows, h] = 0.0
    # Sensing during the slot: devices of an edge with a sensing share fill
    # their buffers and upload over an equal split of that share.
    assoc = sub.get("assoc")
    edge_of = _arange(n)[:, None] * E + assoc  # (n, U) flat (sub-env, edge) index
    sens_u = sub.get("sensing").reshape(-1)[edge_of]
    on = sens_u > 0  # (n, U)
    buf = np.minimum(
        sub.get("sense_buffer_bits") + p.sensing_rate_bps * p.slot_s * on, p.sensing_buffer_bits
    )
    # devices sharing each one's edge; where sensing is off the share is 0 anyway
    n_same = np.bincount(edge_of.reshape(-1), minlength=n * E)[edge_of]
    bw = sens_u * p.edge_bandwidth_hz / np.maximum(n_same, 1)
    link_of = (_arange(n * U) * E).reshape(n, U) + assoc  # (n, U) flat (sub-env, device, edge)
    chan = sub.get("channel")
    g_assoc = _db_to_linear(sub.get("gain_db").reshape(-1)[link_of])
    g_assoc = g_assoc * (
        chan["h_re"].reshape(-1)[link_of] ** 2 + chan["h_im"].reshape(-1)[link_of] ** 2
    )
    bw_safe = np.maximum(bw, 1e-9)
    rate = np.where(
        on, bw * np.log2(1.0 + ch.device_tx_w * g_assoc / (ch.bs_noise_w_per_hz * bw_safe)), 0.0
    )
    up_bits = np.minimum(buf, rate * p.slot_s)
    sub.set("sense_buffer_bits", buf - up_bits)
    sensed = sub.get("sensed_mbit") + np.bincount(
        edge_of.reshape(-1), weights=(up_bits / 1e6).reshape(-1), minlength=n * E
    ).reshape(n, E)
    up_time = np.divide(up_bits, rate, out=np.zeros_like(up_bits), where=rate > 0)
    finetune, edge_scale, edge_up = sub.get("finetune"), sub.get("edge_scale"), sub.get("edge_up")
    # fine-tuning draws its share of the edge's power (a compute cut slows it, like requests)
    overhead_j = ch.device_tx_w * up_time.sum(axis=1) + p.edge_power_w * p.slot_s * np.sum(
        finetune * edge_up, 1
    )
    ev[:, _R["reward"]] += p.reward.slot_reward(overhead_j)
    ev[:, _R["energy"]] += overhead_j
    # Queues drain.
    share = (1.0 - finetune) * edge_scale * edge_up
    sub.set(
        "edge_work_s",
        np.maximum(sub.get("edge_work_s") - p.edge_servers * share * p.slot_s, 0.0),
    )
    for name in ("up_wait_s", "bh_wait_s", "device_work_s"):
        sub.set(name, np.maximum(sub.get(name) - p.slot_s, 0.0))
    sub.set("cloud_work_s", np.maximum(sub.get("cloud_work_s") - p.cloud_servers * p.slot_s, 0.0))
    # Time moves: mobility, channel, association.
    t = sub.get("slot") + 1
    key = sub.get("key")
    mobility, moved = p.mobility.step(sub.get("mobility"), key, t, p.slot_s, p.area_m)
    chan = ch.evolve(chan, key, t, moved, mobility["speed_mps"], p.slot_s)
    gain_db = ch.large_scale_gain_db(chan, mobility["pos_m"], p.edge_xy_m)
    handover = _max_last(gain_db) > gain_db.reshape(-1)[link_of] + ch.handover_hysteresis_db
    hb, hu = np.nonzero(handover)  # few: the strongest edge is needed only there
    assoc = assoc.copy() if idx is None else assoc  # (a gathered copy already otherwise)
    assoc[hb, hu] = np.argmax(gain_db[hb, hu], axis=-1)
    sub.set("assoc", assoc)
    if p.has_events:
        _apply_events(sub, p, t, edge_up)
    for name, value in (
        ("slot", t),
        ("mobility", mobility),
        ("channel", chan),
        ("gain_db", gain_db),
    ):
        sub.set(name, value)
    # Episode accounting of this slot's events.
    s.ep_totals[sub.sel, :_NR] += ev
    s.ep_totals[sub.sel, _EP["handovers"]] += handover.sum(axis=1)
    # Frame boundary: knowledge from fine-tuning sensed data, decay, relay to cloud.
    frame = (t % p.frame_slots == 0) & (t < p.episode_slots)
    if frame.any():
        f = np.flatnonzero(frame)
        ft_cap = (
            finetune[f]
            * edge_scale[f]
            * edge_up[f]
            * p.edge_speed
            * p.frame_slots
            * p.slot_s
            * p.finetune_mbit_per_s
        )
        gain = np.minimum(sensed[f], ft_cap)
        knowledge, cloud_knowledge = sub.get("knowledge_mbit"), sub.get("cloud_knowledge_mbit")
        knowledge[f] = p.knowledge_decay * knowledge[f] + gain
        cloud_knowledge[f] = p.knowledge_decay * cloud_knowledge[
            f
        ] + p.cloud_relay_fraction * gain.sum(axis=1)
        sensed[f] = 0.0
        sub.set("knowledge_mbit", knowledge)
        sub.set("cloud_knowledge_mbit", cloud_knowledge)
    sub.set("sensed_mbit", sensed)
    sub.set("plan_ptr", np.where(frame, 0, E))
    _arrive(s, p, idx)
    return ev


def _apply_events(sub: _Rows, p: Params, t: np.ndarray, was_up: np.ndarray) -> None:
    """Set the scheduled edge state of slot ``t``: a failing edge loses its queue
    (its requests were booked as lost when decided); a recovering edge reloads
    the models it holds."""
    up = p.edge_up_sched[t]  # (n, E)
    sub.set("edge_scale", p.edge_scale_sched[t])
    went_down, came_up = was_up & ~up, ~was_up & up
    if went_down.any():
        sub.set("edge_work_s", np.where(went_down, 0.0, sub.get("edge_work_s")))
    if came_up.any():
        tiers = sub.get("edge_tier")  # (n, E, S)
        reload = came_up[:, :, None] & (tiers >= 0)
        sub.set(
            "tier_ready_slot",
            np.where(
                reload, t[:, None, None] + _load_slots(p, tiers, reload), sub.get("tier_ready_slot")
            ),
        )
    sub.set("edge_up", up)


def _arrive(s: State, p: Params, idx: np.ndarray | None) -> None:
    """Draw the requests of slot ``s.slot`` of sub-envs ``idx`` (all when None)
    into the queue (none at the episode's end)."""
    U, R = p.num_devices, p.max_new_requests
    sub = _Rows(s, idx)
    n, rows = sub.n, sub.rows
    key, t = sub.get("key"), sub.get("slot")
    arrivals, counts = p.arrivals.sample(sub.get("arrivals"), key, t, U, p.load, p.slot_s)
    sub.set("arrivals", arrivals)
    counts = np.where((t < p.episode_slots)[:, None], counts, 0)
    total = counts.sum(axis=1)
    s.ep_totals[sub.sel, _EP["arrived"]] += total
    overflow = np.maximum(total - R, 0)
    if overflow.any():  # the queue holds R per slot; the rest are dropped, and counted
        s.ep_totals[sub.sel, _EP["overflow"]] += overflow
        h = t % p.ring_slots
        s.ring_events[rows, h, _R["dropped"]] += overflow.astype(float)
        s.ring_events[rows, h, _R["reward"]] += -p.reward.w_drop * overflow
    sub.set("n_req", np.minimum(total, R))
    sub.set("req_ptr", np.zeros(n, np.int64))
    if not total.any():
        return
    # One entry per request: (sub-env, device), by sub-env then device.
    flat = np.repeat(_arange(n * U), counts.reshape(-1))
    env = flat // U
    dev = flat - env * U
    if total.max() > 1:
        # Arrival order within the slot is random: sort by (sub-env, a uniform key per device).
        order_key = rng.uniform_at(key[env], t[env], rng.Stream.ARRIVAL_ORDER, dev[:, None])
        order = np.lexsort((order_key[:, 0], env))
        env, dev = env[order], dev[order]
    start = np.cumsum(total) - total
    rank = _arange(env.size) - start[env]
    keep = rank < R
    env, rank, dev = env[keep], rank[keep], dev[keep]
    at = rows[env]
    s.q_device[at, rank] = dev
    # Request fields per queue position (so a sub-env's draws do not depend on B).
    v = rng.uniform_at(
        key[env], t[env], rng.Stream.REQUEST_FIELDS, rank[:, None] * 6 + _arange(6)[None, :]
    )
    d = _derived(p)
    svc = np.minimum(np.searchsorted(d.service_cdf, v[:, 0], side="right"), p.num_services - 1)
    lerp = lambda lo, hi, x: lo[svc] + (hi[svc] - lo[svc]) * x
    s.q_service[at, rank] = svc
    s.q_deadline_s[at, rank] = lerp(p.deadline_lo_s, p.deadline_hi_s, v[:, 1])
    s.q_in_units[at, rank] = np.round(lerp(p.in_units_lo, p.in_units_hi, v[:, 2]))
    s.q_out_units[at, rank] = np.round(lerp(p.out_units_lo, p.out_units_hi, v[:, 3]))
    s.q_min_quality[at, rank] = lerp(p.min_quality_lo, p.min_quality_hi, v[:, 4])
    s.q_private[at, rank] = v[:, 5] < p.private_prob[svc]


# ------------------------------------------------------------------------- metrics


def pending(state: State) -> np.ndarray:
    """(B,) requests decided but not yet served or dropped."""
    ring = state.ring_events
    return ring[:, :, _R["served"]].sum(axis=1) + ring[:, :, _R["dropped"]].sum(axis=1)


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
