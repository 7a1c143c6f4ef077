"""The transition: reset, one decision per step, and time's advance.

A plan decision sets an edge's tiers and shares; a request decision books
the chosen option on its FIFO servers (each only until the request's
deadline) and pays its whole reward at once; when a slot has no decision
left, time advances: sensing, fine-tuning, mobility, channels, scheduled
events, arrivals. See :mod:`gainnet_rl.envs.core` for the whole picture.
"""

from __future__ import annotations

import numpy as np

from gainnet_rl.envs import rng
from gainnet_rl.envs.catalog import KIND_VISION
from gainnet_rl.envs.events import apply_events, record
from gainnet_rl.envs.models.reward import TERMS
from gainnet_rl.envs.outcomes import decision_type, plan_choices, request_outcomes
from gainnet_rl.envs.params import Params
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
    arange,
    db_to_linear,
    derived,
    event_slot,
    held,
    load_slots,
    max_last,
    ring_add,
)


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
        ring_events=zf(p.ring_slots, N_RING),
        ep_totals=zf(len(EP_FIELDS)),
        ep_latency_hist=np.zeros((B, p.latency_bins), np.int64),
        records=zf(p.record_slots, len(REC_FIELDS)),
        n_records=zero.copy(),
        carry_reward=np.zeros(B),
    )
    arrive(state, p, None)
    return state


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
    e = state.plan_ptr[idx]
    ok = (act < p.num_plans) & plan_choices(state, p, idx)[
        arange(idx.size), np.minimum(act, p.num_plans - 1)
    ]
    invalid[idx] += ~ok
    state.ep_totals[idx, EP_INDEX["invalid"]] += ~ok
    go, eg, ag = idx[ok], e[ok], act[ok]
    new_tiers = p.plan_tiers[ag]  # (n, S)
    old = state.edge_tier[go, eg]
    changed = (new_tiers != old) & (new_tiers >= 0)
    state.tier_ready_slot[go, eg] = np.where(
        changed,
        state.slot[go, None] + load_slots(p, new_tiers, changed),
        state.tier_ready_slot[go, eg],
    )
    state.edge_tier[go, eg] = new_tiers
    state.plan[go, eg] = ag
    state.finetune[go, eg] = p.plan_finetune[ag]
    state.sensing[go, eg] = p.plan_sensing[ag]
    state.plan_ptr[idx] += 1


def apply_request(
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
    acc[SI_INDEX["invalid"], idx] += ~ok
    state.ep_totals[idx, EP_INDEX["invalid"]] += ~ok
    a = np.where(ok, a, reject)  # a forbidden choice rejects the request
    pick = lambda k: out[k][idx, a]
    dropped, met, missed = pick("dropped"), pick("met"), pick("missed")
    latency, quality = pick("latency_s"), pick("quality")
    energy, cost, reward = pick("energy_j"), pick("cost_usd"), pick("reward")
    terms = out["terms"][idx, a]
    t0 = state.slot[idx] * p.slot_s
    t_d = out["t_deadline_s"][idx]
    when = np.where(a == reject, 0.0, latency)  # latency is the deadline where aborted
    ev_slot = event_slot(t0 + when, p)
    served = ~dropped
    ring_add(state, p, idx, ev_slot, 1.0, served, met, missed, quality, latency)
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
    state.ep_totals[b, EP_INDEX["edge_busy_s"]] += held(
        np.minimum(hold(c_e, i), horizon), c_s, horizon
    )
    if p.record_slots:
        record(state, p, b, ee, j, out, i, idx, t0, ev_slot, reward, energy)
    # cloud: backhaul and a cloud stream
    i = np.flatnonzero(is_cloud)
    b, ac = idx[i], out["assoc"][idx][i]
    go = before(out["bh_start_s"][b], i)
    state.bh_free_s[b[go], ac[go]] = hold(out["bh_end_s"][b], i)[go]
    c_s, c_e = out["cloud_start_s"][b], out["cloud_end_s"][b]
    go = before(c_s, i)
    state.cloud_free_s[b[go], out["k_cloud"][b][go]] = hold(c_e, i)[go]
    state.ep_totals[b, EP_INDEX["cloud_energy"]] += p.cloud_power_w * np.maximum(
        hold(c_e, i) - c_s, 0.0
    )
    # local
    i = np.flatnonzero(is_local)
    b, uu = idx[i], out["device"][idx][i]
    go = before(out["local_start_s"][b], i)
    state.device_free_s[b[go], uu[go]] = hold(out["local_end_s"][b], i)[go]
    # Episode accounting of the decision.
    ep = state.ep_totals
    ep[idx, EP_INDEX["reward"]] += reward
    ep[idx, EP_INDEX["energy"]] += energy
    ep[idx, EP_INDEX["cost"]] += cost
    ep[idx, TERM0 : TERM0 + len(TERMS)] += terms
    ep[idx, EP_INDEX["aborted"]] += dropped & (a != reject)
    # local_requests, edge_requests, cloud_requests, rejected (adjacent in EP_FIELDS)
    ep[idx, EP_INDEX["local_requests"] : EP_INDEX["rejected"] + 1] += np.stack(
        [is_local, is_edge, is_cloud, a == reject], axis=1
    )
    acc[SI_INDEX["energy_j"], idx] += energy
    acc[SI_INDEX["cost_usd"], idx] += cost
    state.req_ptr[idx] += 1
    return reward


def advance(
    s: State, p: Params, idx: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Advance sub-envs ``idx`` of ``s`` (all when None) by one slot, in place.

    Returns (the slot's request events (n, len(RING_FIELDS)), the slot's
    reward (n,): sensing and fine-tuning energy and event corrections, and
    the slot's energy (n,) in J) per advanced sub-env.
    """
    E, U = p.num_edges, p.num_devices
    ch = p.channel
    sub = Rows(s, idx)
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
    handover = max_last(gain_db) > gain_db.reshape(-1)[link_of] + ch.handover_hysteresis_db
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
        fix, fix_energy = apply_events(s, sub, p, t, edge_up, edge_scale)
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
    ep[sub.sel, EP_INDEX["energy"]] += energy
    ep[sub.sel, EP_INDEX["term_energy"]] += reward
    reward = reward + fix
    energy = energy + fix_energy
    ep[sub.sel, :N_RING] += ev
    ep[sub.sel, EP_INDEX["reward"]] += reward
    ep[sub.sel, EP_INDEX["handovers"]] += handover.sum(axis=1)
    sub.set("sensed_bits", sensed)
    sub.set("plan_ptr", np.where(frame, 0, E))
    arrive(s, p, idx)
    return ev, reward, energy


def arrive(s: State, p: Params, idx: np.ndarray | None) -> None:
    """Draw the requests of slot ``s.slot`` of sub-envs ``idx`` (all when None)
    into the queue (none at the episode's end)."""
    U, R = p.num_devices, p.max_new_requests
    sub = Rows(s, idx)
    n, rows = sub.n, sub.rows
    key, t = sub.get("key"), sub.get("slot")
    arrivals, counts = p.arrivals.sample(sub.get("arrivals"), key, t, U, p.arrival_rate_per_slot)
    sub.set("arrivals", arrivals)
    counts = np.where((t < p.episode_slots)[:, None], counts, 0)
    total = counts.sum(axis=1)
    s.ep_totals[sub.sel, EP_INDEX["arrived"]] += total
    overflow = np.maximum(total - R, 0)
    if overflow.any():  # the queue holds R per slot; the rest are dropped, and counted
        s.ep_totals[sub.sel, EP_INDEX["overflow"]] += overflow
        s.ring_events[rows, t % p.ring_slots, R_INDEX["dropped"]] += overflow.astype(float)
        pen = p.reward.w_drop * overflow
        s.ep_totals[sub.sel, EP_INDEX["reward"]] -= pen
        s.ep_totals[sub.sel, EP_INDEX["term_drop_miss"]] -= pen
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
