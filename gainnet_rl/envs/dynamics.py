"""The transition: reset, one decision per step, and time's advance.

A plan decision sets an edge's tiers and shares; a request decision books
the chosen option on its FIFO servers (each only until the request's
deadline) and pays its whole reward at once; when a slot has no decision
left, time advances: sensing, fine-tuning, mobility, channels, scheduled
events, arrivals. See :mod:`gainnet_rl.envs.core` for the whole picture.
"""

from __future__ import annotations

import numpy as np

from gainnet_rl.envs import decide, slot
from gainnet_rl.envs.events import apply_events, record
from gainnet_rl.envs.models.channel_kernels import NEED_MEASURE, NEED_REQUEST
from gainnet_rl.envs.outcomes import decision_type, plan_choices, request_outcomes
from gainnet_rl.envs.params import LATENCY_BIN_S, Params
from gainnet_rl.envs.state import (
    DECISION_PLAN,
    DECISION_REQUEST,
    EP_FIELDS,
    EP_INDEX,
    N_RING,
    R_INDEX,
    REC_FIELDS,
    SI_INDEX,
    STEP_INFO,
    TERM0,
    Rows,
    State,
    derived,
)


def reset(keys: np.ndarray, p: Params) -> State:
    """Initial state of ``len(keys)`` sub-envs, one episode key each (uint64)."""
    key = np.asarray(keys, dtype=np.uint64)
    B, U, E, S, R = key.shape[0], p.num_devices, p.num_edges, p.num_services, p.max_new_requests
    zero = np.zeros(B, dtype=np.int64)
    mob = p.mobility.init_state(key, U, p.area_m)
    ch = p.channel.init_state(key, (U, E))
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
        gain_db=np.zeros((B, U, E)),
        assoc=np.zeros((B, U), np.int64),
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
        ring_events=zf(p.ring_slots, N_RING),
        ep_totals=zf(len(EP_FIELDS)),
        ep_latency_hist=np.zeros((B, p.latency_bins), np.int64),
        records=zf(p.record_slots, len(REC_FIELDS)),
        n_records=zero.copy(),
        carry_reward=np.zeros(B),
        # the demand history starts at the long-run mean per edge at this load
        demand_hz=np.broadcast_to(
            (p.load * p.demand_ref_hz)[None, None, :, None], (B, E, S, len(p.demand_horizons_s))
        ).copy(),
    )
    # slot 0 is a measurement slot: every link's large-scale gain is drawn
    # (here as arrive would, once per slot: the draws do not change), and the
    # devices associate before they issue requests
    _draw(state, p, np.arange(B), np.full((B, U), NEED_MEASURE, np.uint8))
    state.assoc[:] = np.argmax(state.gain_db, axis=2)
    arrive(state, p, None)
    return state


def draw_all_links(state: State, p: Params, idx: np.ndarray | None = None) -> None:
    """Draw every link of sub-envs ``idx`` (all when None) at their current slot,
    in place, so that ``state.gain_db`` and the channel's fading hold this
    slot's values for every device and edge (the dynamics draw only the links
    a slot uses). Drawing is exact in law and a link is drawn at most once per
    slot, so calling this does not change the process, only its realisation
    of links the dynamics would have drawn later."""
    rows = np.arange(state.batch_size) if idx is None else np.asarray(idx, np.int64)
    need = np.full((rows.size, p.num_devices), NEED_REQUEST, np.uint8)
    _draw(state, p, rows, need)


def _draw(s: State, p: Params, rows: np.ndarray, need: np.ndarray) -> None:
    p.channel.draw_rows(
        s.channel, s.key, s.slot[rows], rows, need, s.mobility["pos_m"], p.edge_xy_m, s.assoc,
        s.gain_db,
    )  # fmt: skip


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
        apply_plan(state, p, is_plan, action[is_plan], acc[SI_INDEX["invalid"]])
    is_req = np.flatnonzero(dtype == DECISION_REQUEST)
    if is_req.size:
        out = outcomes if outcomes is not None else request_outcomes(state, p)
        reward[is_req] += apply_request(state, p, is_req, action[is_req], out, acc)
    penalty = p.reward.w_invalid * acc[SI_INDEX["invalid"]]
    reward -= penalty
    state.ep_totals[:, EP_INDEX["reward"]] -= penalty
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
        ev, slot_reward, slot_energy = advance(state, p, need if need.size < B else None)
        reward[sel] += slot_reward
        acc[:N_RING, sel] += ev.T
        acc[SI_INDEX["energy_j"], sel] += slot_energy
        acc[SI_INDEX["slots_advanced"], sel] += 1
    acc[SI_INDEX["dt_s"]] = acc[SI_INDEX["slots_advanced"]] * p.slot_s
    # overflow penalties of the slots drawn since the last step (at reset, or in
    # this step's advances) are paid by this step
    reward += state.carry_reward
    state.carry_reward[:] = 0.0
    return state, reward, dict(zip(STEP_INFO, acc, strict=True))


def apply_plan(
    state: State, p: Params, idx: np.ndarray, act: np.ndarray, invalid: np.ndarray
) -> None:
    """Set the plans ``act`` of the edges being planned in sub-envs ``idx`` (a
    plan outside the choices counts as invalid and keeps the current one);
    a newly held tier serves once its weights are loaded."""
    ok = plan_choices(state, p, idx)
    decide.plan_rows(
        idx, act, ok, state.plan_ptr, state.slot, state.edge_tier, state.tier_ready_slot,
        state.plan, state.finetune, state.sensing, state.ep_totals, EP_INDEX["invalid"],
        invalid, p.plan_tiers, p.plan_finetune, p.plan_sensing, p.tier_memory_gb,
        p.model_load_gb_per_s, p.slot_s,
    )  # fmt: skip


def apply_request(
    state: State,
    p: Params,
    idx: np.ndarray,
    act: np.ndarray,
    out: dict[str, np.ndarray],
    acc: np.ndarray,
) -> np.ndarray:
    """Book the chosen options of sub-envs ``idx``; returns their rewards
    (the compiled :func:`gainnet_rl.envs.decide.book_rows`)."""
    n = idx.size
    chosen, ev_slot = np.empty(n, np.int64), np.empty(n, np.int64)
    reward, energy = np.empty(n), np.empty(n)
    o = out
    decide.book_rows(
        idx, act, o["valid"], o["latency_s"], o["quality"], o["energy_j"], o["cost_usd"],
        o["dropped"], o["met"], o["missed"], o["reward"], o["terms"], o["t_deadline_s"],
        o["k_ul"], o["up_start_s"], o["up_end_s"], o["assoc"], o["k_dl"], o["dl_start_s"],
        o["dl_end_s"], o["dl_start_cloud_s"], o["dl_end_cloud_s"], o["comp_start_s"],
        o["comp_end_s"], o["stream"], o["kv_gb"], o["bh_start_s"], o["bh_end_s"], o["k_cloud"],
        o["cloud_start_s"], o["cloud_end_s"], o["device"], o["local_start_s"],
        o["local_end_s"], state.slot, state.ring_events, state.ep_latency_hist,
        state.ul_free_s, state.dl_free_s, state.bh_free_s, state.st_free_s, state.st_kv_gb,
        state.st_kv_held_gb, state.st_last_start_s, state.cloud_free_s, state.device_free_s,
        state.ep_totals, acc, p.max_edges, p.slot_s, p.ring_slots, p.episode_slots,
        LATENCY_BIN_S, p.cloud_power_w, _EP_BOOK_COLS, _SI_BOOK_COLS, TERM0, chosen, ev_slot,
        reward, energy,
    )  # fmt: skip
    if p.record_slots:  # in-flight records of edge requests, for scheduled events
        i = np.flatnonzero((chosen >= 1) & (chosen <= p.max_edges))
        b = idx[i]
        e = chosen[i] - 1
        t0 = state.slot[idx] * p.slot_s
        record(state, p, b, e, out["stream"][b, e], out, i, idx, t0, ev_slot, reward, energy)
    state.req_ptr[idx] += 1
    return reward


_EP_BOOK_COLS = np.array(
    [
        EP_INDEX[k]
        for k in (
            "invalid", "reward", "energy", "cost", "aborted", "local_requests",
            "edge_requests", "cloud_requests", "rejected", "edge_busy_s", "cloud_energy",
        )
    ],
    dtype=np.int64,
)  # fmt: skip
_SI_BOOK_COLS = np.array([SI_INDEX[k] for k in ("invalid", "energy_j", "cost_usd")], np.int64)


def advance(
    s: State, p: Params, idx: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Advance sub-envs ``idx`` of ``s`` (all when None) by one slot, in place.

    Returns (the slot's request events (n, len(RING_FIELDS)), the slot's
    reward (n,): sensing and fine-tuning energy and event corrections, and
    the slot's energy (n,) in J) per advanced sub-env. The work is done by
    compiled kernels (:mod:`gainnet_rl.envs.slot` and the models' own), in
    order: this slot's events leave the ring, sensing uploads (their links
    drawn), devices move, the channel's per-device bookkeeping, scheduled
    edge events, the frame boundary's fine-tuning, the next slot's arrivals
    and the links they use (every link at a measurement slot), handovers.
    """
    U = p.num_devices
    ch, chan, mob = p.channel, s.channel, s.mobility
    rows = np.arange(s.batch_size) if idx is None else idx  # (writable: one kernel type)
    n = rows.size
    ev, energy = np.empty((n, N_RING)), np.empty(n)
    ul = ch.ul_link
    need = np.empty((n, U), np.uint8)
    slot.sensing_need_rows(rows, s.assoc, s.sensing, need)
    _draw(s, p, rows, need)
    slot.sense_rows(
        rows, s.slot, s.ring_events, p.ring_slots, s.assoc, s.sensing, s.sense_buffer_bits,
        s.sensed_bits, s.gain_db, chan["h_re"], chan["h_im"], p.sensing_rate_bps * p.slot_s,
        p.sensing_buffer_bits, p.ul_bandwidth_hz, p.ul_time_share, p.slot_s, ch.device_tx_w,
        ch.bs_noise_w_per_hz, ul[0], ul[1], ul[2], ev, energy,
    )  # fmt: skip
    # Time moves: mobility, the channel's per-device bookkeeping (links are drawn when used).
    t = s.slot[rows] + 1
    moved = np.empty((n, U))
    p.mobility.advance_rows(mob, s.key, t, rows, p.slot_s, p.area_m, moved)
    ch.advance_rows(chan, s.key, t, rows, moved, mob["speed_mps"], p.slot_s)
    s.slot[rows] = t
    fix = fix_energy = 0.0
    edge_up, edge_scale = s.edge_up, s.edge_scale  # the slot's (before its events)
    if p.has_events:
        edge_up, edge_scale = edge_up.copy(), edge_scale.copy()
        fix, fix_energy = apply_events(s, Rows(s, idx), p, t, edge_up[rows], edge_scale[rows])
    # Frame boundary: knowledge from fine-tuning sensed data, decay, relay to the cloud.
    slot.frame_rows(
        rows, s.slot, p.frame_slots, p.episode_slots, s.plan, s.finetune, edge_scale, edge_up,
        s.sensed_bits, s.knowledge, s.cloud_knowledge, s.bh_free_s, p.plan_ft_params_b,
        p.finetune_efficiency, p.edge_peak_flops, p.frame_slots * p.slot_s, p.tokens_per_mbit,
        p.edge_power_w, p.knowledge_decay, p.cloud_relay_fraction, p.backhaul_bps, p.slot_s,
        energy, s.plan_ptr,
    )  # fmt: skip
    # Episode accounting of this slot: its events, sensing and fine-tuning energy
    # (events corrected their requests' energy and terms themselves).
    reward = p.reward.slot_reward(energy)
    ep = s.ep_totals
    ep[rows, EP_INDEX["energy"]] += energy
    ep[rows, EP_INDEX["term_energy"]] += reward
    reward = reward + fix
    energy = energy + fix_energy
    ep[rows, :N_RING] += ev
    ep[rows, EP_INDEX["reward"]] += reward
    arrive(s, p, idx)
    # Association, at a measurement slot (its links drawn by arrive).
    handovers = np.empty(n, np.int64)
    slot.handover_rows(
        rows, s.slot, p.measure_slots, s.assoc, s.gain_db, ch.handover_hysteresis_db, handovers
    )
    ep[rows, EP_INDEX["handovers"]] += handovers
    return ev, reward, energy


_EP_ARRIVAL_COLS = np.array(
    [EP_INDEX[k] for k in ("arrived", "overflow", "reward", "term_drop_miss")], dtype=np.int64
)


def arrive(s: State, p: Params, idx: np.ndarray | None) -> None:
    """Draw the requests of slot ``s.slot`` of sub-envs ``idx`` (all when None)
    into the queue (none at the episode's end)."""
    rows = np.arange(s.batch_size) if idx is None else idx  # (writable: one kernel type)
    per_service = p.num_services if p.arrivals.per_service else 1
    counts = np.empty((rows.size, p.num_devices, per_service), np.int64)  # filled whole
    p.arrivals.sample_rows(
        s.arrivals, s.key, s.slot[rows], rows, p.arrival_rate_per_slot, counts, s.assoc
    )
    d = derived(p)
    slot.enqueue_rows(
        rows, s.slot, s.key, counts, p.episode_slots, s.ring_events, p.ring_slots,
        R_INDEX["dropped"], s.ep_totals, _EP_ARRIVAL_COLS, s.carry_reward, p.reward.w_drop,
        s.n_req, s.req_ptr, s.q_device, s.q_service, s.q_in_tokens, s.q_out_tokens,
        s.q_up_bits, s.q_down_bits, s.q_deadline_s, s.q_min_quality, s.q_private,
        d.service_cdf, p.in_tokens_lo, p.in_tokens_hi, p.out_tokens_lo, p.out_tokens_hi,
        p.payload_lo_bits, p.payload_hi_bits, p.bits_per_token, d.is_vision, p.visual_tokens,
        p.deadline_lo_s, p.deadline_hi_s, p.min_quality_lo, p.min_quality_hi, p.private_prob,
    )  # fmt: skip
    if p.demand_horizons_s:
        slot.demand_rows(
            rows, s.slot, p.episode_slots, s.n_req, s.q_device, s.q_service, s.assoc,
            p.demand_decay, p.slot_s, s.demand_hz,
        )  # fmt: skip
    # the links the slot's requests use (and every link at a measurement slot)
    need = np.empty((rows.size, p.num_devices), np.uint8)
    slot.slot_need_rows(rows, s.slot, p.measure_slots, s.n_req, s.q_device, need)
    _draw(s, p, rows, need)
