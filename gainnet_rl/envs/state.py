"""The batched dynamic state and the bookkeeping helpers of the dynamics.

All state arrays carry a leading batch dimension B (sub-environments).
Times ``*_free_s`` are absolute seconds since the episode start (a resource
is free from then on). :mod:`gainnet_rl.envs.core` is the public facade of
the dynamics; see it for the whole picture.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from gainnet_rl.envs.catalog import KIND_VISION
from gainnet_rl.envs.models.reward import TERMS
from gainnet_rl.envs.params import LATENCY_BIN_S, Params

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
R_INDEX = {k: i for i, k in enumerate(RING_FIELDS)}
EP_INDEX = {k: i for i, k in enumerate(EP_FIELDS)}
N_RING = len(RING_FIELDS)
TERM0 = EP_INDEX[f"term_{TERMS[0]}"]
SI_INDEX = {k: i for i, k in enumerate(STEP_INFO)}
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
RC_INDEX = {k: i for i, k in enumerate(REC_FIELDS)}


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
    arrivals: dict[str, np.ndarray]  # model-specific arrays (B, ...), hidden from the agent
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
    demand_hz: np.ndarray  # (B, E, S, H) arrivals per s per edge and service, EWMA per horizon

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


class Rows:
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
    is_vision: np.ndarray  # (S,) bool: the service answers an image


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
            is_vision=p.service_kind == KIND_VISION,
        )
        for a in (d.service_cdf, d.services, d.mean_in_tokens, d.mean_out_tokens, d.is_vision):
            a.flags.writeable = False
        p.__dict__["_core_derived"] = d
    return d


def held(end: np.ndarray, start: np.ndarray, until: np.ndarray) -> np.ndarray:
    """Time a stage from ``start`` to ``end`` runs before ``until`` (>= 0)."""
    return np.maximum(np.minimum(end, until) - start, 0.0)


def load_slots(p: Params, tiers: np.ndarray, load: np.ndarray) -> np.ndarray:
    """Slots it takes to load each tier in ``tiers`` (..., S) where ``load`` is
    True (0 elsewhere): its weights at ``model_load_gb_per_s``, whole slots."""
    mem = p.tier_memory_gb[derived(p).services, np.maximum(tiers, 0)]
    return np.ceil(np.where(load, mem, 0.0) / p.model_load_gb_per_s / p.slot_s).astype(np.int64)


def event_slot(t_s: np.ndarray, p: Params) -> np.ndarray:
    """Slot in which an instant ``t_s`` (s since the episode start) falls."""
    return np.floor(t_s / p.slot_s + 1e-9).astype(np.int64)


def ring_add(
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
