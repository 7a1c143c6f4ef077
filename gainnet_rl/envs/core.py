"""The GainNet-v1 dynamics: one batched numpy transition.

Everything the scalar env, the vector env, the heuristics and the tests know
about the network's behaviour is in this file. All state arrays carry a
leading batch dimension B (sub-environments); nothing loops over devices,
edges or requests in Python. :func:`step` updates the state in place (and
returns it); :func:`request_outcomes` and :func:`action_mask` only read it.

Decisions (SYSTEM_MODEL section 8) come one per call of :func:`step`:

1. At a frame boundary (every K slots), one *plan* decision per edge, in
   index order: an index into the plan catalog (``Params.plan_*``).
2. Then, one *request* decision per request that arrived in the slot, in
   arrival order: an option index, ``0`` local, ``1 + e`` edge e, ``1 +
   E_max`` cloud, ``2 + E_max`` reject.
3. When a slot has no decision left, time advances one slot (and more, while
   slots bring no decision).

Resources are FIFO servers whose free times are kept in absolute seconds:
each edge's uplink and downlink sub-bands, its backhaul, its ``max_batch``
compute streams (with the KV-cache memory each holds), the cloud's streams
and each device. A request's path and timing are fixed when it is decided,
with the rates of that instant (section 12), so its outcome is known then
and its whole reward is credited to the step that decides it; a request
that cannot meet its deadline is aborted at it, every stage holding it only
until then. Served and dropped requests are counted in the slot they happen
(an event ring), which is what the per-step ``info`` and the episode KPIs
report. Scheduled edge events that change decided requests' outcomes credit
the difference in the slot of the event (section 12.5).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from gainnet_rl.envs import rng
from gainnet_rl.envs.models.reward import TERMS
from gainnet_rl.envs.params import KIND_VISION, LATENCY_BIN_S, Params

DECISION_PLAN = 0
DECISION_REQUEST = 1
DECISION_NONE = 2  # the episode is over

#: Per-slot counts of requests finishing (served or dropped) in that slot.
RING_FIELDS = ("served", "dropped", "met", "missed", "quality", "latency")
#: Episode accumulators; the first block mirrors RING_FIELDS so a slot's events add in one go.
EP_FIELDS = (
    *RING_FIELDS,
    "reward",
    "energy",
    "cost",
    "cloud_energy",
    "arrived",
    "overflow",
    "invalid",
    "handovers",
    "local_requests",
    "edge_requests",
    "cloud_requests",
    "rejected",
    "aborted",
    "edge_busy_s",
    *(f"term_{t}" for t in TERMS),
)
#: Per-call sums returned by :func:`step`; the first block mirrors RING_FIELDS.
STEP_INFO = (
    "served",
    "dropped",
    "met",
    "missed",
    "quality",
    "latency_s",
    "energy_j",
    "cost_usd",
    "invalid",
    "slots_advanced",
    "dt_s",
)
_R = {k: i for i, k in enumerate(RING_FIELDS)}
_EP = {k: i for i, k in enumerate(EP_FIELDS)}
_NR = len(RING_FIELDS)
_TERM0 = _EP[f"term_{TERMS[0]}"]
_SI = {k: i for i, k in enumerate(STEP_INFO)}
#: Fields of the in-flight records kept for scheduled events (edge requests only).
REC_FIELDS = (
    "active",
    "edge",
    "stream",
    "t0_s",
    "deadline_at_s",
    "ready_s",
    "comp_start_s",
    "comp_end_s",
    "after_comp_s",
    "k_ul",
    "ul_hold_s",
    "k_dl",
    "dl_hold_s",
    "tx_energy_j",
    "run_power_w",
    "quality",
    "min_quality",
    "reward",
    "energy_j",
    "event_slot",
    "served",
    "met",
    "missed",
    "latency_s",
)
_RC = {k: i for i, k in enumerate(REC_FIELDS)}
_NEVER = np.inf


@dataclass
class State:
    """Batched dynamic state. Shapes: B sub-envs, U devices, E edges, S
    services, R per-slot request queue, C streams per edge, N_c cloud
    streams, H ring slots, NB latency bins. Times ``*_free_s`` are absolute
    seconds since the episode start (a resource is free from then on)."""

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
    q_in_tokens: np.ndarray  # (B, R) prefill tokens (prompt + visual)
    q_out_tokens: np.ndarray  # (B, R) generated tokens (0 for images)
    q_up_bits: np.ndarray  # (B, R) upload payload, bits
    q_down_bits: np.ndarray  # (B, R) download payload, bits
    q_deadline_s: np.ndarray  # (B, R) relative deadline, s
    q_min_quality: np.ndarray  # (B, R) quality floor
    q_private: np.ndarray  # (B, R) bool
    ul_free_s: np.ndarray  # (B, E, K_ul) uplink sub-bands
    dl_free_s: np.ndarray  # (B, E, K_dl) downlink sub-bands
    bh_free_s: np.ndarray  # (B, E) backhaul, edge to cloud
    st_free_s: np.ndarray  # (B, E, C) edge compute streams
    st_kv_gb: np.ndarray  # (B, E, C) KV memory of the last request given each stream
    st_kv_held_gb: np.ndarray  # (B, E, C) most KV memory each stream holds until it is free
    st_last_start_s: np.ndarray  # (B, E) start of the last request (FIFO)
    cloud_free_s: np.ndarray  # (B, N_c) cloud streams
    device_free_s: np.ndarray  # (B, U) device compute
    edge_tier: np.ndarray  # (B, E, S) int64 tier held, -1 none
    tier_ready_slot: np.ndarray  # (B, E, S) int64 slot from which the tier serves
    plan: np.ndarray  # (B, E) int64 plan in force
    finetune: np.ndarray  # (B, E) fine-tuning share of compute
    sensing: np.ndarray  # (B, E) sensing share of the uplink
    knowledge: np.ndarray  # (B, E) fine-tuned tokens (knowledge k)
    cloud_knowledge: np.ndarray  # (B,)
    sense_buffer_bits: np.ndarray  # (B, U)
    sensed_bits: np.ndarray  # (B, E) uploaded this frame
    edge_up: np.ndarray  # (B, E) bool
    edge_scale: np.ndarray  # (B, E) compute multiplier (1 = nominal)
    ring_events: np.ndarray  # (B, H, len(RING_FIELDS)) request events per slot
    ep_totals: np.ndarray  # (B, len(EP_FIELDS)) episode accumulators
    ep_latency_hist: np.ndarray  # (B, NB) int64 served latencies in LATENCY_BIN_S bins
    records: np.ndarray  # (B, Q, len(REC_FIELDS)) in-flight edge requests (events only)
    n_records: np.ndarray  # (B,) int64 records written
    carry_reward: np.ndarray  # (B,) reward booked outside a step (overflow), paid by the next

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
        self.rows = arange(self.n) if idx is None else idx  # row indices, for pairs
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


def arange(n: int) -> np.ndarray:
    """Read-only ``np.arange(n)`` (int64), cached."""
    a = _ARANGE.get(n)
    if a is None:
        a = np.arange(n, dtype=np.int64)
        a.flags.writeable = False
        if len(_ARANGE) < 256:
            _ARANGE[n] = a
    return a


_DB_TO_LN = np.log(10.0) / 10.0


def db_to_linear(x_db: np.ndarray) -> np.ndarray:
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
class Derived:
    """Constants derived from Params once (see :func:`derived`)."""

    range_gain_db: float  # smallest mean gain with a usable request sub-band
    ul_sub_hz: float  # a request sub-band with no sensing share
    dl_sub_hz: float  # a downlink sub-band
    service_cdf: np.ndarray  # (S,) cumulative request share
    services: np.ndarray  # (S,) int64 arange
    mean_in_tokens: np.ndarray  # (S,)
    mean_out_tokens: np.ndarray  # (S,)


def derived(p: Params) -> Derived:
    """Per-Params constants, computed on first use and kept on the (frozen) instance."""
    d = p.__dict__.get("_core_derived")
    if d is None:
        ul_sub = p.ul_bandwidth_hz / p.ul_subbands
        d = Derived(
            range_gain_db=p.channel.ul_range_gain_db(ul_sub),
            ul_sub_hz=ul_sub,
            dl_sub_hz=p.dl_bandwidth_hz / p.dl_subbands,
            service_cdf=np.cumsum(p.service_share),
            services=np.arange(p.num_services),
            mean_in_tokens=(p.in_tokens_lo + p.in_tokens_hi) / 2 + p.visual_tokens,
            mean_out_tokens=(p.out_tokens_lo + p.out_tokens_hi) / 2,
        )
        for a in (d.service_cdf, d.services, d.mean_in_tokens, d.mean_out_tokens):
            a.flags.writeable = False
        p.__dict__["_core_derived"] = d
    return d


# --------------------------------------------------------------------------- reset


def reset(keys: np.ndarray, p: Params) -> State:
    """Initial state of ``len(keys)`` sub-envs, one episode key each (uint64)."""
    key = np.asarray(keys, dtype=np.uint64)
    B, U, E, S, R = key.shape[0], p.num_devices, p.num_edges, p.num_services, p.max_new_requests
    zero = np.zeros(B, dtype=np.int64)
    mob = p.mobility.init_state(key, U, p.area_m)
    ch = p.channel.init_state(key, (U, E))
    gain_db = p.channel.large_scale_gain_db(ch, mob["pos_m"], p.edge_xy_m)
    plan = np.full((B, E), p.default_plan, dtype=np.int64)
    zf = lambda *shape: np.zeros((B, *shape))
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
        q_in_tokens=zf(R),
        q_out_tokens=zf(R),
        q_up_bits=zf(R),
        q_down_bits=zf(R),
        q_deadline_s=np.ones((B, R)),
        q_min_quality=zf(R),
        q_private=np.zeros((B, R), bool),
        ul_free_s=zf(E, p.ul_subbands),
        dl_free_s=zf(E, p.dl_subbands),
        bh_free_s=zf(E),
        st_free_s=zf(E, p.max_batch),
        st_kv_gb=zf(E, p.max_batch),
        st_kv_held_gb=zf(E, p.max_batch),
        st_last_start_s=zf(E),
        cloud_free_s=zf(p.cloud_streams),
        device_free_s=zf(U),
        edge_tier=np.broadcast_to(p.plan_tiers[p.default_plan], (B, E, S)).copy(),
        tier_ready_slot=np.zeros((B, E, S), np.int64),
        plan=plan,
        finetune=p.plan_finetune[plan],
        sensing=p.plan_sensing[plan],
        knowledge=np.full((B, E), p.initial_knowledge_tokens),
        cloud_knowledge=np.full(B, p.initial_knowledge_tokens),
        sense_buffer_bits=zf(U),
        sensed_bits=zf(E),
        edge_up=np.broadcast_to(p.edge_up_sched[0], (B, E)).copy(),
        edge_scale=np.broadcast_to(p.edge_scale_sched[0], (B, E)).copy(),
        ring_events=zf(p.ring_slots, _NR),
        ep_totals=zf(len(EP_FIELDS)),
        ep_latency_hist=np.zeros((B, p.latency_bins), np.int64),
        records=zf(p.record_slots, len(REC_FIELDS)),
        n_records=zero.copy(),
        carry_reward=np.zeros(B),
    )
    _arrive(state, p, None)
    return state


# ------------------------------------------------------------------ decision context


def compute_share(state: State) -> np.ndarray:
    """(B, E) share of each edge's nominal compute that serves requests: one
    less the fine-tuning share, times the speed multiplier, zero while down;
    floored at 1e-9 (a down edge's service time is huge, not infinite)."""
    return np.maximum((1.0 - state.finetune) * state.edge_scale * state.edge_up, 1e-9)


def knowledge_factor(k: np.ndarray, p: Params) -> np.ndarray:
    """``1 - exp(-k / kappa_k)``: the share of a tier's fine-tuning gain reached."""
    return 1.0 - np.exp(-k / p.knowledge_scale_tokens)


def decision_type(state: State, p: Params) -> np.ndarray:
    """(B,) DECISION_PLAN, DECISION_REQUEST or DECISION_NONE (episode over)."""
    # DECISION_PLAN = 0, DECISION_REQUEST = 1: the plan pointer past the last edge
    return np.where(state.slot >= p.episode_slots, DECISION_NONE, state.plan_ptr >= p.num_edges)


def plan_mask(p: Params) -> np.ndarray:
    """(P,) plans an edge may ever take: they fit its memory with one stream of
    each service they hold (and hold no sensing or fine-tuning when
    ``knowledge_flow`` is off). See :func:`plan_choices` for the current decision."""
    return p.plan_allowed.copy()


def plan_choices(state: State, p: Params, idx: np.ndarray | None = None) -> np.ndarray:
    """(n, P) plans the edge being planned in sub-envs ``idx`` (all when None)
    may take now: :func:`plan_mask`, and weights plus fine-tuning memory that
    fit beside the most KV cache its decided streams will hold; its current
    plan always."""
    rows = arange(state.batch_size) if idx is None else idx
    e = np.minimum(state.plan_ptr[rows], p.num_edges - 1)
    now = (state.slot[rows] * p.slot_s)[:, None]
    held = state.st_kv_held_gb[rows, e]
    kv = np.where(state.st_free_s[rows, e] > now, held, 0.0).sum(axis=-1)
    fits = p.plan_memory_gb[None, :] + kv[:, None] <= p.edge_memory_gb + 1e-9
    ok = p.plan_allowed[None, :] & fits
    ok[arange(rows.size), state.plan[rows, e]] = True
    return ok


def _earliest(free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index and time of the earliest free server along the last axis."""
    k = np.argmin(free, axis=-1)
    return k, np.take_along_axis(free, k[..., None], axis=-1)[..., 0]


def _airtime(bits: np.ndarray, rate_bps: np.ndarray) -> np.ndarray:
    """Seconds to send ``bits`` at ``rate_bps``: 0 for nothing, inf where the link is out."""
    return np.where(bits > 0, bits / np.where(rate_bps > 0, rate_bps, 0.0), 0.0)


def _held(end: np.ndarray, start: np.ndarray, until: np.ndarray) -> np.ndarray:
    """Time a stage from ``start`` to ``end`` runs before ``until`` (>= 0)."""
    return np.maximum(np.minimum(end, until) - start, 0.0)


def request_outcomes(state: State, p: Params) -> dict[str, np.ndarray]:
    """Outcome of every option for each sub-env's current request.

    Returns (B, O) arrays over options [local, edge 0..E_max-1, cloud, reject]:
    ``valid``, ``latency_s`` (the deadline where dropped), ``quality``,
    ``energy_j``, ``cost_usd``, ``dropped``, ``met``, ``missed``,
    ``reward`` and ``terms`` (B, O, len(TERMS)); and the (B,)/(B, E)
    intermediates used to book the chosen option (stage times in s since the
    episode start; inf where a stage never happens, e.g. the link is out).
    Meaningless (but the option outcomes finite) where the current decision
    is not a request. Exact: absent later scheduled events, the chosen
    option's outcome is what happens.
    """
    B, E, O = state.batch_size, p.num_edges, p.num_options
    ch, d = p.channel, derived(p)
    rows = arange(B)
    r = np.minimum(state.req_ptr, p.max_new_requests - 1)
    u, s = state.q_device[rows, r], state.q_service[rows, r]
    in_tok, out_tok = state.q_in_tokens[rows, r], state.q_out_tokens[rows, r]
    up_bits, down_bits = state.q_up_bits[rows, r], state.q_down_bits[rows, r]
    deadline = state.q_deadline_s[rows, r]
    min_q = state.q_min_quality[rows, r]
    private = state.q_private[rows, r]
    t0 = state.slot * p.slot_s
    t_d = t0 + deadline  # the request is aborted at this instant if not delivered
    t_dE = t_d[:, None]
    g_db = state.gain_db[rows, u]  # (B, E)
    g = db_to_linear(g_db) * (
        state.channel["h_re"][rows, u] ** 2 + state.channel["h_im"][rows, u] ** 2
    )
    in_range = g_db >= d.range_gain_db
    with np.errstate(divide="ignore", invalid="ignore"):
        # --- uplink: the earliest free sub-band of each edge, at full device power
        rate_ul = ch.uplink_rate_bps(g, (1.0 - state.sensing) * d.ul_sub_hz, p.ul_time_share)
        k_ul, ul_free = _earliest(state.ul_free_s)
        up_start = np.maximum(t0[:, None], ul_free)
        up_end = up_start + _airtime(up_bits[:, None], rate_ul)
        # --- edge compute: earliest start with a free stream and the request's KV
        tier = state.edge_tier[rows, :, s]  # (B, E)
        tier0 = np.maximum(tier, 0)
        sv = s[:, None]
        kv_req = (
            p.tier_kv_fixed_gb[sv, tier0]
            + p.tier_kv_per_token_gb[sv, tier0] * (in_tok + out_tok)[:, None]
        )
        budget = p.plan_kv_budget_gb[state.plan]
        ready = np.maximum(up_end, state.st_last_start_s)
        f, kv = state.st_free_s, state.st_kv_gb  # (B, E, C)
        tau = np.maximum(ready[..., None], f)  # candidate starts: when each stream frees
        busy = f[..., None, :] > tau[..., :, None]  # (B, E, C candidate, C stream)
        n_busy = busy.sum(axis=-1)
        kv_busy = (busy * kv[..., None, :]).sum(axis=-1)
        feasible = (n_busy < p.max_batch) & (
            kv_busy + kv_req[..., None] <= budget[..., None] + 1e-9
        )
        tau = np.where(feasible, tau, _NEVER)
        j = np.argmin(tau, axis=-1)
        comp_start = np.take_along_axis(tau, j[..., None], axis=-1)[..., 0]
        n_batch = np.take_along_axis(n_busy, j[..., None], axis=-1)[..., 0] + 1
        stream = np.argmin(f, axis=-1)  # the stream it takes (free by comp_start)
        share = compute_share(state)
        t1 = (
            p.tier_fixed_s[sv, tier0]
            + p.tier_in_s[sv, tier0] * in_tok[:, None]
            + p.tier_out_s[sv, tier0] * out_tok[:, None]
        )
        service = t1 * (1.0 + p.tier_beta[sv, tier0] * (n_batch - 1)) / share
        comp_end = comp_start + service
        # --- downlink: the earliest free sub-band of the edge
        rate_dl = ch.downlink_rate_bps(g, p.dl_bandwidth_hz, d.dl_sub_hz, p.dl_time_share)
        k_dl, dl_free = _earliest(state.dl_free_s)
        dl_start = np.maximum(comp_end, dl_free)
        dl_time = _airtime(down_bits[:, None], rate_dl)
        dl_end = dl_start + dl_time
        lat_e = dl_end - t0[:, None]
        q_e = p.tier_quality[sv, tier0] + p.finetune_gain[sv] * knowledge_factor(state.knowledge, p)
        run_power = p.edge_power_w * (1.0 - state.finetune) / n_batch  # W while it runs
        # the device transmits only in uplink time (TDD: a share of the wall time)
        tx_e = ch.device_tx_w * p.ul_time_share * _held(up_end, up_start, t_dE)
        en_e = tx_e + run_power * _held(comp_end, comp_start, t_dE)
        valid_e = (tier >= 0) & (state.tier_ready_slot[rows, :, s] <= state.slot[:, None])
        valid_e &= in_range & state.edge_up & (kv_req <= budget + 1e-9)
        # --- cloud, through the associated edge's uplink, backhaul and downlink
        a = state.assoc[rows, u]
        up_start_c, up_end_c = up_start[rows, a], up_end[rows, a]
        bh_start = np.maximum(up_end_c, state.bh_free_s[rows, a])
        bh_end = bh_start + up_bits / p.backhaul_bps
        k_c, c_free = _earliest(state.cloud_free_s)
        c_start = np.maximum(bh_end + p.backhaul_latency_s, c_free)
        c_service = p.cloud_fixed_s[s] + p.cloud_out_s[s] * out_tok
        c_end = c_start + c_service
        back = c_end + down_bits / p.backhaul_bps + p.backhaul_latency_s
        dl_start_c = np.maximum(back, dl_free[rows, a])
        dl_end_c = dl_start_c + dl_time[rows, a]
        lat_c = dl_end_c - t0
        q_c = p.cloud_quality[s] + p.finetune_gain[s] * knowledge_factor(state.cloud_knowledge, p)
        c_run = _held(c_end, c_start, t_d)
        c_done = np.minimum(c_run / np.maximum(c_service, 1e-12), 1.0)
        cost_c = (c_start < t_d) * p.cloud_usd_in[s] * in_tok + c_done * (
            p.cloud_usd_fixed[s] + p.cloud_usd_out[s] * out_tok
        )
        en_c = ch.device_tx_w * p.ul_time_share * _held(up_end_c, up_start_c, t_d)
        # an edge whose link is in a deep fade this slot (SINR below the minimum,
        # rate 0) is not offered: an upload could not start
        link_ok = (rate_ul > 0) & (rate_dl > 0)
        valid_e &= link_ok
        valid_c = ~private & in_range[rows, a] & link_ok[rows, a]
        # --- local, on the device's own model
        tier_l = p.device_tier[s]
        tier_l0 = np.maximum(tier_l, 0)
        # prefill is compute-bound (2 N FLOPs a token at f x FLOPs/cycle), decode
        # the slower of that and reading the weights once per token
        l_start = np.maximum(t0, state.device_free_s[rows, u])
        l_end = l_start + (
            p.tier_device_fixed_s[s, tier_l0]
            + p.tier_device_in_s[s, tier_l0] * in_tok
            + p.tier_device_out_s[s, tier_l0] * out_tok
        )
        lat_l = l_end - t0
        q_l = p.tier_quality[s, tier_l0]
        en_l = p.device_power_w * _held(l_end, l_start, t_d)
    # --- assemble [local, edges (padded with zeros), cloud, reject (zeros)]
    latency, quality, energy, cost = np.zeros((4, B, O))
    for arr, local, edge, cloud in (
        (latency, lat_l, lat_e, lat_c),
        (quality, q_l, q_e, q_c),
        (energy, en_l, en_e, en_c),
    ):
        arr[:, 0], arr[:, 1 : 1 + E], arr[:, O - 2] = local, edge, cloud
    cost[:, O - 2] = cost_c
    valid = np.zeros((B, O), dtype=bool)
    valid[:, 0], valid[:, 1 : 1 + E], valid[:, O - 2], valid[:, O - 1] = (
        tier_l >= 0,
        valid_e,
        valid_c,
        True,
    )
    dropped = ~(latency <= deadline[:, None])  # late (or never: inf) requests are aborted
    dropped[:, O - 1] = True
    latency = np.where(dropped, deadline[:, None], latency)
    latency[:, O - 1] = 0.0
    quality = np.where(dropped, 0.0, quality)
    served = ~dropped
    met = served & (quality >= min_q[:, None])
    missed = served & ~met
    terms = p.reward.request_terms(quality, met, missed, dropped, latency, energy, cost)
    return {
        "valid": valid,
        "latency_s": latency,
        "quality": quality,
        "energy_j": energy,
        "cost_usd": cost,
        "dropped": dropped,
        "met": met,
        "missed": missed,
        "terms": terms,
        "reward": terms.sum(axis=-1),
        "device": u,
        "service": s,
        "deadline_s": deadline,
        "t_deadline_s": t_d,
        "assoc": a,
        "in_range": in_range,
        "gain_db": g_db,
        "up_bits": up_bits,
        "k_ul": k_ul,
        "up_start_s": up_start,
        "up_end_s": up_end,
        "kv_gb": kv_req,
        "ready_s": ready,
        "stream": stream,
        "n_batch": n_batch,
        "comp_start_s": comp_start,
        "comp_end_s": comp_end,
        "run_power_w": run_power,
        "tx_energy_j": tx_e,
        "k_dl": k_dl,
        "dl_start_s": dl_start,
        "dl_end_s": dl_end,
        "dl_start_cloud_s": dl_start_c,
        "dl_end_cloud_s": dl_end_c,
        "bh_start_s": bh_start,
        "bh_end_s": bh_end,
        "k_cloud": k_c,
        "cloud_start_s": c_start,
        "cloud_end_s": c_end,
        "local_start_s": l_start,
        "local_end_s": l_end,
        "edge_quality": q_e,
        "work_edge_s": service,
        "work_cloud_s": c_service,
    }


def action_mask(
    state: State, p: Params, outcomes: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """(B, N) valid actions of the current decision (N = ``p.num_actions``)."""
    B, N = state.batch_size, p.num_actions
    mask = np.zeros((B, N), dtype=bool)
    dtype = decision_type(state, p)
    plan = np.flatnonzero(dtype == DECISION_PLAN)
    if plan.size:
        mask[plan, : p.num_plans] = plan_choices(state, p, plan)
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
        (state, reward (B,), info) where reward is the decided request's whole
        reward (request decisions), minus ``w_invalid`` for a forbidden
        action, plus the sensing and fine-tuning energy cost and event
        corrections of the slots advanced; info holds (B,) arrays of
        :data:`STEP_INFO`: requests served, dropped, met and missed in the
        slots advanced, the sums of their quality and latency (s), the energy
        (J) and cloud cost ($) booked by the call, invalid actions, slots
        advanced and ``dt_s`` (simulated seconds advanced).
    """
    B = state.batch_size
    action = np.asarray(action, dtype=np.int64)
    dtype = decision_type(state, p)
    reward = np.zeros(B)
    acc = np.zeros((len(STEP_INFO), B))  # rows: STEP_INFO
    is_plan = np.flatnonzero(dtype == DECISION_PLAN)
    if is_plan.size:
        _apply_plan(state, p, is_plan, action[is_plan], acc[_SI["invalid"]])
    is_req = np.flatnonzero(dtype == DECISION_REQUEST)
    if is_req.size:
        out = outcomes if outcomes is not None else request_outcomes(state, p)
        reward[is_req] += _apply_request(state, p, is_req, action[is_req], out, acc)
    penalty = p.reward.w_invalid * acc[_SI["invalid"]]
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
        ev, slot_reward, slot_energy = _advance(state, p, need if need.size < B else None)
        reward[sel] += slot_reward
        acc[:_NR, sel] += ev.T
        acc[_SI["energy_j"], sel] += slot_energy
        acc[_SI["slots_advanced"], sel] += 1
    acc[_SI["dt_s"]] = acc[_SI["slots_advanced"]] * p.slot_s
    # overflow penalties of the slots drawn since the last step (at reset, or in
    # this step's advances) are paid by this step
    reward += state.carry_reward
    state.carry_reward[:] = 0.0
    return state, reward, dict(zip(STEP_INFO, acc, strict=True))


def _apply_plan(
    state: State, p: Params, idx: np.ndarray, act: np.ndarray, invalid: np.ndarray
) -> None:
    e = state.plan_ptr[idx]
    ok = (act < p.num_plans) & plan_choices(state, p, idx)[
        arange(idx.size), np.minimum(act, p.num_plans - 1)
    ]
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
    True (0 elsewhere): its weights at ``model_load_gb_per_s``, whole slots."""
    mem = p.tier_memory_gb[derived(p).services, np.maximum(tiers, 0)]
    return np.ceil(np.where(load, mem, 0.0) / p.model_load_gb_per_s / p.slot_s).astype(np.int64)


def _event_slot(t_s: np.ndarray, p: Params) -> np.ndarray:
    """Slot in which an instant ``t_s`` (s since the episode start) falls."""
    return np.floor(t_s / p.slot_s + 1e-9).astype(np.int64)


def _ring_add(
    state: State,
    p: Params,
    rows: np.ndarray,
    slot: np.ndarray,
    sign: float,
    served: np.ndarray,
    met: np.ndarray,
    missed: np.ndarray,
    quality: np.ndarray,
    latency: np.ndarray,
) -> None:
    """Add (sign +1) or remove (-1) request events in the ring slots ``slot``
    and, for served requests finishing within the episode, the latency histogram."""
    events = np.stack([served, ~served, met, missed, quality * served, latency * served], axis=1)
    np.add.at(state.ring_events, (rows, slot % p.ring_slots), sign * events)
    hist = served & (slot < p.episode_slots)
    b = np.minimum((latency / LATENCY_BIN_S).astype(np.int64), p.latency_bins - 1)
    np.add.at(state.ep_latency_hist, (rows[hist], b[hist]), int(sign))


def _apply_request(
    state: State,
    p: Params,
    idx: np.ndarray,
    act: np.ndarray,
    out: dict[str, np.ndarray],
    acc: np.ndarray,
) -> np.ndarray:
    """Book the chosen options of sub-envs ``idx``; returns their rewards."""
    O, E = p.num_options, p.num_edges
    reject = O - 1
    in_range = act < O
    a = np.where(in_range, act, reject)
    ok = in_range & out["valid"][idx, a]
    acc[_SI["invalid"], idx] += ~ok
    state.ep_totals[idx, _EP["invalid"]] += ~ok
    a = np.where(ok, a, reject)  # a forbidden choice rejects the request
    pick = lambda k: out[k][idx, a]
    dropped, met, missed = pick("dropped"), pick("met"), pick("missed")
    latency, quality = pick("latency_s"), pick("quality")
    energy, cost, reward = pick("energy_j"), pick("cost_usd"), pick("reward")
    terms = out["terms"][idx, a]
    t0 = state.slot[idx] * p.slot_s
    t_d = out["t_deadline_s"][idx]
    when = np.where(a == reject, 0.0, latency)  # latency is the deadline where aborted
    ev_slot = _event_slot(t0 + when, p)
    served = ~dropped
    _ring_add(state, p, idx, ev_slot, 1.0, served, met, missed, quality, latency)
    is_edge = (a >= 1) & (a <= p.max_edges)
    is_local, is_cloud = a == 0, a == O - 2
    e = np.minimum(np.maximum(a - 1, 0), E - 1)
    # Occupy the chosen resources, each only until the request's deadline.
    before = lambda start, i: start < t_d[i]
    hold = lambda end, i: np.minimum(end, t_d[i])
    for sel, edge in ((is_edge, e), (is_cloud, out["assoc"][idx])):
        i, ee = np.flatnonzero(sel), edge[sel]
        b = idx[i]
        up_s, up_e = out["up_start_s"][b, ee], out["up_end_s"][b, ee]
        go = before(up_s, i)
        k = out["k_ul"][b, ee]
        state.ul_free_s[b[go], ee[go], k[go]] = hold(up_e, i)[go]
        dl_s = out["dl_start_s" if sel is is_edge else "dl_start_cloud_s"]
        dl_e = out["dl_end_s" if sel is is_edge else "dl_end_cloud_s"]
        if sel is is_edge:
            dl_s, dl_e = dl_s[b, ee], dl_e[b, ee]
        else:
            dl_s, dl_e = dl_s[b], dl_e[b]
        go = before(dl_s, i)
        k = out["k_dl"][b, ee]
        state.dl_free_s[b[go], ee[go], k[go]] = hold(dl_e, i)[go]
    # edge compute
    i = np.flatnonzero(is_edge)
    b, ee = idx[i], e[i]
    c_s, c_e = out["comp_start_s"][b, ee], out["comp_end_s"][b, ee]
    go = before(c_s, i)
    j = out["stream"][b, ee]
    bg, eg, jg = b[go], ee[go], j[go]
    kv_new = out["kv_gb"][b, ee][go]
    busy_now = state.st_free_s[bg, eg, jg] > t0[i][go]  # the stream still holds a request
    state.st_kv_held_gb[bg, eg, jg] = np.maximum(
        np.where(busy_now, state.st_kv_held_gb[bg, eg, jg], 0.0), kv_new
    )
    state.st_free_s[bg, eg, jg] = hold(c_e, i)[go]
    state.st_kv_gb[bg, eg, jg] = kv_new
    state.st_last_start_s[b[go], ee[go]] = c_s[go]
    horizon = p.episode_slots * p.slot_s  # utilisation counts the episode's time only
    state.ep_totals[b, _EP["edge_busy_s"]] += _held(np.minimum(hold(c_e, i), horizon), c_s, horizon)
    if p.record_slots:
        _record(state, p, b, ee, j, out, i, idx, t0, ev_slot, reward, energy)
    # cloud: backhaul and a cloud stream
    i = np.flatnonzero(is_cloud)
    b, ac = idx[i], out["assoc"][idx][i]
    go = before(out["bh_start_s"][b], i)
    state.bh_free_s[b[go], ac[go]] = hold(out["bh_end_s"][b], i)[go]
    c_s, c_e = out["cloud_start_s"][b], out["cloud_end_s"][b]
    go = before(c_s, i)
    state.cloud_free_s[b[go], out["k_cloud"][b][go]] = hold(c_e, i)[go]
    state.ep_totals[b, _EP["cloud_energy"]] += p.cloud_power_w * np.maximum(hold(c_e, i) - c_s, 0.0)
    # local
    i = np.flatnonzero(is_local)
    b, uu = idx[i], out["device"][idx][i]
    go = before(out["local_start_s"][b], i)
    state.device_free_s[b[go], uu[go]] = hold(out["local_end_s"][b], i)[go]
    # Episode accounting of the decision.
    ep = state.ep_totals
    ep[idx, _EP["reward"]] += reward
    ep[idx, _EP["energy"]] += energy
    ep[idx, _EP["cost"]] += cost
    ep[idx, _TERM0 : _TERM0 + len(TERMS)] += terms
    ep[idx, _EP["aborted"]] += dropped & (a != reject)
    # local_requests, edge_requests, cloud_requests, rejected (adjacent in EP_FIELDS)
    ep[idx, _EP["local_requests"] : _EP["rejected"] + 1] += np.stack(
        [is_local, is_edge, is_cloud, a == reject], axis=1
    )
    acc[_SI["energy_j"], idx] += energy
    acc[_SI["cost_usd"], idx] += cost
    state.req_ptr[idx] += 1
    return reward


def _record(
    state: State,
    p: Params,
    b: np.ndarray,
    e: np.ndarray,
    j: np.ndarray,
    out: dict[str, np.ndarray],
    i: np.ndarray,
    idx: np.ndarray,
    t0: np.ndarray,
    ev_slot: np.ndarray,
    reward: np.ndarray,
    energy: np.ndarray,
) -> None:
    """Keep an in-flight record of each edge request (for scheduled events)."""
    pos = state.n_records[b] % p.record_slots
    state.n_records[b] += 1
    rec = np.zeros((b.size, len(REC_FIELDS)))
    col = lambda k: rec[:, _RC[k]]
    t_d = out["t_deadline_s"][b]
    rec[:, _RC["active"]] = 1.0
    rec[:, _RC["edge"]] = e
    rec[:, _RC["stream"]] = j
    rec[:, _RC["t0_s"]] = t0[i]
    rec[:, _RC["deadline_at_s"]] = t_d
    # a request whose link is out (never started) keeps finite, inactive times
    dl_end, c_end = out["dl_end_s"][b, e], out["comp_end_s"][b, e]
    finite = np.isfinite(dl_end)
    rec[:, _RC["comp_start_s"]] = np.where(finite, out["comp_start_s"][b, e], t_d)
    rec[:, _RC["comp_end_s"]] = np.where(finite, c_end, t_d)
    rec[:, _RC["after_comp_s"]] = np.subtract(dl_end, c_end, out=np.zeros_like(t_d), where=finite)
    rec[:, _RC["ready_s"]] = np.where(finite, out["ready_s"][b, e], t_d)
    rec[:, _RC["k_ul"]] = out["k_ul"][b, e]
    rec[:, _RC["ul_hold_s"]] = np.minimum(out["up_end_s"][b, e], t_d)
    rec[:, _RC["k_dl"]] = out["k_dl"][b, e]
    rec[:, _RC["dl_hold_s"]] = np.where(finite, np.minimum(dl_end, t_d), t_d)
    rec[:, _RC["tx_energy_j"]] = out["tx_energy_j"][b, e]
    rec[:, _RC["run_power_w"]] = out["run_power_w"][b, e]
    rec[:, _RC["quality"]] = out["edge_quality"][b, e]
    rec[:, _RC["min_quality"]] = state.q_min_quality[
        b, np.minimum(state.req_ptr[b], p.max_new_requests - 1)
    ]
    rec[:, _RC["reward"]] = reward[i]
    rec[:, _RC["energy_j"]] = energy[i]
    rec[:, _RC["event_slot"]] = ev_slot[i]
    rec[:, _RC["served"]] = ~out["dropped"][b, 1 + e]
    rec[:, _RC["met"]] = out["met"][b, 1 + e]
    rec[:, _RC["missed"]] = out["missed"][b, 1 + e]
    rec[:, _RC["latency_s"]] = out["latency_s"][b, 1 + e]
    # a request aborted before it reached compute is not affected by edge events
    col("active")[:] = finite & (out["comp_start_s"][b, e] < t_d)
    state.records[b, pos] = rec


def _advance(
    s: State, p: Params, idx: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Advance sub-envs ``idx`` of ``s`` (all when None) by one slot, in place.

    Returns (the slot's request events (n, len(RING_FIELDS)), the slot's
    reward (n,): sensing and fine-tuning energy and event corrections, and
    the slot's energy (n,) in J) per advanced sub-env.
    """
    E, U = p.num_edges, p.num_devices
    ch = p.channel
    sub = _Rows(s, idx)
    n, rows = sub.n, sub.rows
    # Events happening in this slot, then cleared from the ring.
    h = sub.get("slot") % p.ring_slots
    ev = s.ring_events[rows, h]  # (n, F) copy
    s.ring_events[rows, h] = 0.0
    # Sensing during the slot: devices of an edge with a sensing share fill
    # their buffers and upload over an equal split of that (reserved) share.
    assoc = sub.get("assoc")
    edge_of = arange(n)[:, None] * E + assoc  # (n, U) flat (sub-env, edge) index
    sens_u = sub.get("sensing").reshape(-1)[edge_of]
    on = sens_u > 0  # (n, U)
    buf = np.minimum(
        sub.get("sense_buffer_bits") + p.sensing_rate_bps * p.slot_s * on, p.sensing_buffer_bits
    )
    # devices sharing each one's edge; where sensing is off the share is 0 anyway
    n_same = np.bincount(edge_of.reshape(-1), minlength=n * E)[edge_of]
    bw = sens_u * p.ul_bandwidth_hz / np.maximum(n_same, 1)
    link_of = (arange(n * U) * E).reshape(n, U) + assoc  # (n, U) flat (sub-env, device, edge)
    chan = sub.get("channel")
    g_assoc = db_to_linear(sub.get("gain_db").reshape(-1)[link_of])
    g_assoc = g_assoc * (
        chan["h_re"].reshape(-1)[link_of] ** 2 + chan["h_im"].reshape(-1)[link_of] ** 2
    )
    rate = np.where(on, ch.uplink_rate_bps(g_assoc, bw, p.ul_time_share), 0.0)
    up_bits = np.minimum(buf, rate * p.slot_s)
    sub.set("sense_buffer_bits", buf - up_bits)
    sensed = sub.get("sensed_bits") + np.bincount(
        edge_of.reshape(-1), weights=up_bits.reshape(-1), minlength=n * E
    ).reshape(n, E)
    up_time = np.divide(up_bits, rate, out=np.zeros_like(up_bits), where=rate > 0)
    finetune, edge_scale, edge_up = sub.get("finetune"), sub.get("edge_scale"), sub.get("edge_up")
    # devices transmit sensed data only in uplink time (TDD)
    energy = ch.device_tx_w * p.ul_time_share * up_time.sum(axis=1)
    ep = s.ep_totals
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
    for name, value in (
        ("slot", t),
        ("mobility", mobility),
        ("channel", chan),
        ("gain_db", gain_db),
    ):
        sub.set(name, value)
    fix = fix_energy = 0.0
    if p.has_events:
        fix, fix_energy = _apply_events(s, sub, p, t, edge_up, edge_scale)
    # Frame boundary: knowledge from fine-tuning sensed data, decay, relay to the cloud.
    frame = (t % p.frame_slots == 0) & (t < p.episode_slots)
    if frame.any():
        f = np.flatnonzero(frame)
        frame_s = p.frame_slots * p.slot_s
        ft_params = p.plan_ft_params_b[sub.get("plan")[f]] * 1e9
        ft_cap = np.divide(
            finetune[f]
            * edge_scale[f]
            * edge_up[f]
            * p.finetune_efficiency
            * p.edge_peak_flops
            * frame_s,
            6.0 * ft_params,
            out=np.zeros_like(ft_params),
            where=ft_params > 0,
        )  # tokens the frame's fine-tuning share can process: eta F / (6 N)
        data = sensed[f] / 1e6 * p.tokens_per_mbit
        tuned = np.minimum(data, ft_cap)
        # fine-tuning's energy: its share of the edge's power for the share of
        # the frame it worked (billed once, here)
        busy = np.divide(tuned, ft_cap, out=np.zeros_like(tuned), where=ft_cap > 0)
        energy[f] += p.edge_power_w * frame_s * np.sum(finetune[f] * edge_up[f] * busy, axis=1)
        knowledge, cloud_knowledge = sub.get("knowledge"), sub.get("cloud_knowledge")
        knowledge[f] = p.knowledge_decay * knowledge[f] + tuned
        cloud_knowledge[f] = p.knowledge_decay * cloud_knowledge[
            f
        ] + p.cloud_relay_fraction * data.sum(axis=1)
        # the relayed share of the frame's sensed data crosses the backhaul
        bh = sub.get("bh_free_s")
        now = (t[f] * p.slot_s)[:, None]
        relay_bits = p.cloud_relay_fraction * sensed[f]
        bh[f] = np.where(
            relay_bits > 0, np.maximum(bh[f], now) + relay_bits / p.backhaul_bps, bh[f]
        )
        sub.set("bh_free_s", bh)
        sensed[f] = 0.0
        sub.set("knowledge", knowledge)
        sub.set("cloud_knowledge", cloud_knowledge)
    # Episode accounting of this slot: its events, sensing and fine-tuning energy
    # (events corrected their requests' energy and terms themselves).
    reward = p.reward.slot_reward(energy)
    ep[sub.sel, _EP["energy"]] += energy
    ep[sub.sel, _EP["term_energy"]] += reward
    reward = reward + fix
    energy = energy + fix_energy
    ep[sub.sel, :_NR] += ev
    ep[sub.sel, _EP["reward"]] += reward
    ep[sub.sel, _EP["handovers"]] += handover.sum(axis=1)
    sub.set("sensed_bits", sensed)
    sub.set("plan_ptr", np.where(frame, 0, E))
    _arrive(s, p, idx)
    return ev, reward, energy


def _apply_events(
    s: State, sub: _Rows, p: Params, t: np.ndarray, was_up: np.ndarray, old_scale: np.ndarray
) -> np.ndarray:
    """Set the scheduled edge state of slot ``t`` and re-time decided requests.

    - A failing edge loses the requests it was serving or had queued: each
      becomes a drop in slot ``t`` with the energy used until then; its
      streams are freed. A recovering edge reloads the models it holds.
    - A speed change (compute cut or its end) on a running edge dilates the
      edge's compute schedule after ``t`` by old / new speed, and the
      requests decided there are re-timed (and aborted if now late).
    The reward difference of every changed outcome is returned (n,), to be
    credited in this slot; the ring and the episode totals are corrected.
    """
    n = sub.n
    rows = sub.rows
    up = p.edge_up_sched[t]  # (n, E)
    scale = p.edge_scale_sched[t]
    sub.set("edge_scale", scale)
    sub.set("edge_up", up)
    went_down, came_up = was_up & ~up, ~was_up & up
    ratio = np.where(was_up & up & (scale != old_scale), old_scale / scale, 1.0)
    fix, fix_energy = np.zeros(n), np.zeros(n)
    if came_up.any():
        tiers = sub.get("edge_tier")  # (n, E, S)
        reload = came_up[:, :, None] & (tiers >= 0)
        sub.set(
            "tier_ready_slot",
            np.where(
                reload, t[:, None, None] + _load_slots(p, tiers, reload), sub.get("tier_ready_slot")
            ),
        )
    if not (went_down.any() or (ratio != 1.0).any()):
        return fix, fix_energy
    now = t * p.slot_s  # (n,)
    rec = s.records[rows]  # (n, Q, F) copy
    c = lambda k: rec[..., _RC[k]]
    e = c("edge").astype(np.int64)
    nb = arange(n)[:, None]
    live = (
        (c("active") > 0) & (c("comp_end_s") > now[:, None]) & (c("deadline_at_s") > now[:, None])
    )
    lost = live & went_down[nb, e]
    r = ratio[nb, e]
    moved = live & ~lost & (r != 1.0)
    if lost.any() or moved.any():
        t0, t_d = c("t0_s"), c("deadline_at_s")
        cs, ce = c("comp_start_s").copy(), c("comp_end_s").copy()
        nowq = np.broadcast_to(now[:, None], cs.shape)
        # re-timed schedule (moved): a running request's remaining compute is
        # scaled by r; a queued one starts when the edge's dilated schedule
        # reaches it, but never before it was ready (upload done, FIFO), and
        # its whole compute is scaled. Lost requests are cut at the failure.
        started = cs <= nowq
        cs_new = np.where(moved & ~started, np.maximum(nowq + (cs - nowq) * r, c("ready_s")), cs)
        ce_new = np.where(
            moved,
            np.where(started, nowq + (ce - nowq) * r, cs_new + (ce - cs) * r),
            np.where(lost, nowq, ce),
        )
        deliver = np.where(lost, np.inf, ce_new + c("after_comp_s"))
        lat = deliver - t0
        deadline = t_d - t0
        dropped = ~(lat <= deadline)
        lat = np.where(dropped, deadline, lat)
        lat = np.where(lost, nowq - t0, lat)
        served = ~dropped
        q = np.where(served, c("quality"), 0.0)
        met = served & (q >= c("min_quality"))
        missed = served & ~met
        energy = c("tx_energy_j") + c("run_power_w") * _held(ce_new, cs_new, t_d)
        terms = p.reward.request_terms(q, met, missed, dropped, lat, energy, np.zeros_like(q))
        new_reward = terms.sum(axis=-1)
        change = lost | moved
        bq, qq = np.nonzero(change)
        old_slot = c("event_slot").astype(np.int64)[bq, qq]
        new_slot = np.maximum(_event_slot(np.where(lost, nowq, t0 + lat)[bq, qq], p), t[bq])
        sb = rows[bq]
        _ring_add(
            s, p, sb, old_slot, -1.0,
            c("served")[bq, qq] > 0, c("met")[bq, qq] > 0, c("missed")[bq, qq] > 0,
            c("quality")[bq, qq], c("latency_s")[bq, qq],
        )  # fmt: skip
        _ring_add(
            s, p, sb, new_slot, 1.0, served[bq, qq], met[bq, qq], missed[bq, qq],
            q[bq, qq], lat[bq, qq],
        )  # fmt: skip
        d_reward = new_reward[bq, qq] - c("reward")[bq, qq]
        d_energy = energy[bq, qq] - c("energy_j")[bq, qq]
        np.add.at(fix, bq, d_reward)
        np.add.at(fix_energy, bq, d_energy)
        np.add.at(s.ep_totals[:, _EP["energy"]], sb, d_energy)
        np.add.at(
            s.ep_totals[:, _EP["aborted"]],
            sb,
            dropped[bq, qq].astype(float) - (c("served")[bq, qq] == 0),
        )
        # terms: replace the old request's terms by the new ones (energy term via d_energy)
        old_terms = p.reward.request_terms(
            c("quality")[bq, qq] * (c("served")[bq, qq] > 0),
            c("met")[bq, qq] > 0,
            c("missed")[bq, qq] > 0,
            c("served")[bq, qq] == 0,
            c("latency_s")[bq, qq],
            c("energy_j")[bq, qq],
            np.zeros(bq.size),
        )
        np.add.at(s.ep_totals[:, _TERM0 : _TERM0 + len(TERMS)], sb, terms[bq, qq] - old_terms)
        until = np.minimum(t_d, p.episode_slots * p.slot_s)
        busy_old = _held(ce, cs, until)[bq, qq]
        busy_new = _held(ce_new, cs_new, until)[bq, qq]
        np.add.at(s.ep_totals[:, _EP["edge_busy_s"]], sb, busy_new - busy_old)
        # write back the records
        rec[..., _RC["comp_start_s"]] = cs_new
        rec[..., _RC["comp_end_s"]] = ce_new
        rec[..., _RC["reward"]] = np.where(change, new_reward, c("reward"))
        rec[..., _RC["energy_j"]] = np.where(change, energy, c("energy_j"))
        rec[..., _RC["served"]] = np.where(change, served, c("served"))
        rec[..., _RC["met"]] = np.where(change, met, c("met"))
        rec[..., _RC["missed"]] = np.where(change, missed, c("missed"))
        rec[..., _RC["latency_s"]] = np.where(change, lat, c("latency_s"))
        rec[bq, qq, _RC["event_slot"]] = new_slot
        rec[..., _RC["active"]] = np.where(lost, 0.0, c("active"))
        s.records[rows] = rec
        # streams: held until each moved request's new end (or deadline)
        st = sub.get("st_free_s")
        nowE = now[:, None, None]
        rE = ratio[:, :, None]
        st = np.where(st > nowE, nowE + (st - nowE) * rE, st)  # the edge's dilated schedule
        mb, mq = np.nonzero(moved)
        j = c("stream").astype(np.int64)
        st[mb, e[mb, mq], j[mb, mq]] = now[mb]  # then the latest of its requests' holds
        np.maximum.at(
            st, (mb, e[mb, mq], j[mb, mq]), np.maximum(np.minimum(ce_new, t_d)[mb, mq], now[mb])
        )
        sub.set("st_free_s", st)
        # a lost request's radio bookings end now, where it was the last on its sub-band
        lb, lq = np.nonzero(lost)
        for name, k, hold in (
            ("ul_free_s", "k_ul", "ul_hold_s"),
            ("dl_free_s", "k_dl", "dl_hold_s"),
        ):
            free = sub.get(name)
            kk = c(k).astype(np.int64)[lb, lq]
            last = np.isclose(free[lb, e[lb, lq], kk], c(hold)[lb, lq], rtol=0, atol=1e-12)
            idx = (lb[last], e[lb, lq][last], kk[last])
            free[idx] = np.maximum(np.minimum(free[idx], now[lb[last]]), 0.0)
            sub.set(name, free)
    st, last = sub.get("st_free_s"), sub.get("st_last_start_s")
    nowE = now[:, None]
    last = np.where(last > nowE, nowE + (last - nowE) * ratio, last)
    down3 = went_down[:, :, None]
    st = np.where(down3, np.minimum(st, now[:, None, None]), st)
    last = np.where(went_down, np.minimum(last, nowE), last)
    sub.set("st_free_s", st)
    for name in ("st_kv_gb", "st_kv_held_gb"):
        sub.set(name, np.where(down3, 0.0, sub.get(name)))
    sub.set("st_last_start_s", last)
    return fix, fix_energy


def _arrive(s: State, p: Params, idx: np.ndarray | None) -> None:
    """Draw the requests of slot ``s.slot`` of sub-envs ``idx`` (all when None)
    into the queue (none at the episode's end)."""
    U, R = p.num_devices, p.max_new_requests
    sub = _Rows(s, idx)
    n, rows = sub.n, sub.rows
    key, t = sub.get("key"), sub.get("slot")
    arrivals, counts = p.arrivals.sample(sub.get("arrivals"), key, t, U, p.arrival_rate_per_slot)
    sub.set("arrivals", arrivals)
    counts = np.where((t < p.episode_slots)[:, None], counts, 0)
    total = counts.sum(axis=1)
    s.ep_totals[sub.sel, _EP["arrived"]] += total
    overflow = np.maximum(total - R, 0)
    if overflow.any():  # the queue holds R per slot; the rest are dropped, and counted
        s.ep_totals[sub.sel, _EP["overflow"]] += overflow
        s.ring_events[rows, t % p.ring_slots, _R["dropped"]] += overflow.astype(float)
        pen = p.reward.w_drop * overflow
        s.ep_totals[sub.sel, _EP["reward"]] -= pen
        s.ep_totals[sub.sel, _EP["term_drop_miss"]] -= pen
        s.carry_reward[sub.sel] -= pen
    sub.set("n_req", np.minimum(total, R))
    sub.set("req_ptr", np.zeros(n, np.int64))
    if not total.any():
        return
    # One entry per request: (sub-env, device), by sub-env then device.
    flat = np.repeat(arange(n * U), counts.reshape(-1))
    env = flat // U
    dev = flat - env * U
    if total.max() > 1:
        # Arrival order within the slot is random: sort by (sub-env, a uniform key per device).
        order_key = rng.uniform_at(key[env], t[env], rng.Stream.ARRIVAL_ORDER, dev[:, None])
        order = np.lexsort((order_key[:, 0], env))
        env, dev = env[order], dev[order]
    start = np.cumsum(total) - total
    rank = arange(env.size) - start[env]
    keep = rank < R
    env, rank, dev = env[keep], rank[keep], dev[keep]
    at = rows[env]
    s.q_device[at, rank] = dev
    # Request fields per queue position (so a sub-env's draws do not depend on B).
    nf = 7
    v = rng.uniform_at(
        key[env], t[env], rng.Stream.REQUEST_FIELDS, rank[:, None] * nf + arange(nf)[None, :]
    )
    d = derived(p)
    svc = np.minimum(np.searchsorted(d.service_cdf, v[:, 0], side="right"), p.num_services - 1)
    lerp = lambda lo, hi, x: lo[svc] + (hi[svc] - lo[svc]) * x
    prompt = np.round(lerp(p.in_tokens_lo, p.in_tokens_hi, v[:, 2]))
    out_tok = np.round(lerp(p.out_tokens_lo, p.out_tokens_hi, v[:, 3]))
    payload = lerp(p.payload_lo_bits, p.payload_hi_bits, v[:, 6])
    bpt = p.bits_per_token[svc]
    vision = p.service_kind[svc] == KIND_VISION
    s.q_service[at, rank] = svc
    s.q_deadline_s[at, rank] = lerp(p.deadline_lo_s, p.deadline_hi_s, v[:, 1])
    s.q_in_tokens[at, rank] = prompt + p.visual_tokens[svc]
    s.q_out_tokens[at, rank] = out_tok
    # uploads: the prompt, plus the frame for vision; downloads: tokens, or the picture
    s.q_up_bits[at, rank] = prompt * bpt + np.where(vision, payload, 0.0)
    s.q_down_bits[at, rank] = out_tok * bpt + np.where(vision, 0.0, payload)
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
