"""Compiled kernel of a request decision (numba): book the chosen option on
its FIFO servers, each only until the request's deadline, and account its
outcome (SYSTEM_MODEL sections 8 and 12). Units: s, J, $.

:func:`gainnet_rl.envs.dynamics.apply_request` calls :func:`book_rows` with
the outcomes of :func:`gainnet_rl.envs.outcomes.request_outcomes`; the
sub-envs ``idx`` are updated in place, one loop iteration each.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from gainnet_rl.envs.outcomes import held1


@njit(cache=True)
def book_rows(  # pragma: no cover - compiled
    idx, act, valid, latency, quality, energy, cost, dropped, met, missed, reward, terms,
    t_deadline, k_ul, up_start, up_end, assoc, k_dl, dl_start, dl_end, dl_start_c, dl_end_c,
    comp_start, comp_end, stream, kv_gb, bh_start, bh_end, k_cloud, cloud_start, cloud_end,
    device, local_start, local_end,
    slot, ring, latency_hist, ul_free, dl_free, bh_free, st_free, st_kv, st_kv_held,
    st_last_start, cloud_free, device_free, ep, acc,
    E_max, slot_s, ring_slots, episode_slots, latency_bin_s, cloud_power_w, ep_cols, si_cols,
    term0, chosen, ev_slot_out, reward_out, energy_out,
):  # fmt: skip
    """Book the actions ``act`` of sub-envs ``idx`` (see ``apply_request``).

    An action outside ``[0, O)`` or not valid rejects the request and counts
    as invalid. The request's event (served or dropped, met, missed, its
    quality and latency) goes to the ring slot in which it ends; each stage
    it reaches before the deadline holds its server until then. Outputs,
    aligned with ``idx``: ``chosen`` option, ``ev_slot_out``, ``reward_out``
    and ``energy_out``. ``ep_cols``: the ``ep`` columns invalid, reward,
    energy, cost, aborted, local_requests, edge_requests, cloud_requests,
    rejected, edge_busy_s, cloud_energy; ``si_cols``: the ``acc`` rows
    invalid, energy_j, cost_usd.
    """
    O = valid.shape[1]
    E = up_start.shape[1]
    reject = O - 1
    n_bins = latency_hist.shape[1]
    n_terms = terms.shape[2]
    horizon = episode_slots * slot_s  # utilisation counts the episode's time only
    for i in range(idx.size):
        b = idx[i]
        a = act[i]
        ok = 0 <= a < O and valid[b, a]
        if not ok:
            a = reject  # a forbidden choice rejects the request
            acc[si_cols[0], b] += 1.0
            ep[b, ep_cols[0]] += 1.0
        chosen[i] = a
        t0 = slot[b] * slot_s
        t_d = t_deadline[b]
        lat = latency[b, a]
        when = 0.0 if a == reject else lat  # latency is the deadline where aborted
        ev = np.int64(math.floor((t0 + when) / slot_s + 1e-9))
        ev_slot_out[i] = ev
        served = not dropped[b, a]
        h = ev % ring_slots
        ring[b, h, 0] += 1.0 if served else 0.0
        ring[b, h, 1] += 0.0 if served else 1.0
        ring[b, h, 2] += 1.0 if met[b, a] else 0.0
        ring[b, h, 3] += 1.0 if missed[b, a] else 0.0
        ring[b, h, 4] += quality[b, a] * served
        ring[b, h, 5] += lat * served
        if served and ev < episode_slots:
            latency_hist[b, min(np.int64(lat / latency_bin_s), n_bins - 1)] += 1
        is_edge = 1 <= a <= E_max
        is_cloud = a == O - 2
        if is_edge or is_cloud:
            e = min(max(a - 1, 0), E - 1) if is_edge else assoc[b]
            if up_start[b, e] < t_d:
                ul_free[b, e, k_ul[b, e]] = min(up_end[b, e], t_d)
            ds, de = (dl_start[b, e], dl_end[b, e]) if is_edge else (dl_start_c[b], dl_end_c[b])
            if ds < t_d:
                dl_free[b, e, k_dl[b, e]] = min(de, t_d)
        if is_edge:  # e: the chosen edge (set above)
            c_s, c_e = comp_start[b, e], comp_end[b, e]
            if c_s < t_d:
                j = stream[b, e]
                kv_new = kv_gb[b, e]
                held = st_kv_held[b, e, j] if st_free[b, e, j] > t0 else 0.0
                st_kv_held[b, e, j] = max(held, kv_new)
                st_free[b, e, j] = min(c_e, t_d)
                st_kv[b, e, j] = kv_new
                st_last_start[b, e] = c_s
            ep[b, ep_cols[9]] += held1(min(c_e, t_d), c_s, horizon)
        if is_cloud:  # e: the associated edge (set above)
            if bh_start[b] < t_d:
                bh_free[b, e] = min(bh_end[b], t_d)
            c_s, c_e = cloud_start[b], cloud_end[b]
            if c_s < t_d:
                cloud_free[b, k_cloud[b]] = min(c_e, t_d)
            ep[b, ep_cols[10]] += cloud_power_w * held1(c_e, c_s, t_d)
        if a == 0 and local_start[b] < t_d:
            device_free[b, device[b]] = min(local_end[b], t_d)
        # episode accounting of the decision
        ep[b, ep_cols[1]] += reward[b, a]
        ep[b, ep_cols[2]] += energy[b, a]
        ep[b, ep_cols[3]] += cost[b, a]
        for k in range(n_terms):
            ep[b, term0 + k] += terms[b, a, k]
        ep[b, ep_cols[4]] += 1.0 if dropped[b, a] and a != reject else 0.0
        ep[b, ep_cols[5]] += 1.0 if a == 0 else 0.0
        ep[b, ep_cols[6]] += 1.0 if is_edge else 0.0
        ep[b, ep_cols[7]] += 1.0 if is_cloud else 0.0
        ep[b, ep_cols[8]] += 1.0 if a == reject else 0.0
        acc[si_cols[1], b] += energy[b, a]
        acc[si_cols[2], b] += cost[b, a]
        reward_out[i] = reward[b, a]
        energy_out[i] = energy[b, a]


@njit(cache=True)
def plan_rows(  # pragma: no cover - compiled
    idx, act, choices, plan_ptr, slot, edge_tier, tier_ready, plan, finetune, sensing, ep,
    ep_invalid, invalid, plan_tiers, plan_finetune, plan_sensing, tier_memory_gb,
    load_gb_per_s, slot_s,
):  # fmt: skip
    """Apply the plan decisions ``act`` (aligned with ``idx``; ``choices`` (n, P)
    from ``plan_choices``): a changed tier serves after ``ceil(weights /
    load rate / slot)`` slots; an invalid plan is counted in ``invalid`` (B,)
    and the episode totals and leaves the edge as it was."""
    P = choices.shape[1]
    S = edge_tier.shape[2]
    for i in range(idx.size):
        b = idx[i]
        a = act[i]
        e = plan_ptr[b]
        if a < P and choices[i, min(a, P - 1)]:
            for s in range(S):
                new = plan_tiers[a, s]
                if new != edge_tier[b, e, s] and new >= 0:
                    load = tier_memory_gb[s, new] / load_gb_per_s / slot_s
                    tier_ready[b, e, s] = slot[b] + np.int64(math.ceil(load))
                edge_tier[b, e, s] = new
            plan[b, e] = a
            finetune[b, e] = plan_finetune[a]
            sensing[b, e] = plan_sensing[a]
        else:
            invalid[b] += 1.0
            ep[b, ep_invalid] += 1.0
        plan_ptr[b] += 1
