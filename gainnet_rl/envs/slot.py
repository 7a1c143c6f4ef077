"""Compiled kernels of time's advance (numba): sensing uploads, the links a
slot uses, handover, the frame's fine-tuning and knowledge, and the queueing
of a slot's requests.

Each kernel updates the sub-envs ``rows`` of whole-batch state arrays in
place, one sub-env per loop iteration, so the scalar env (a batch of
one) and the vector env run the same code; per-row outputs are (n, ...)
arrays aligned with ``rows``. :func:`gainnet_rl.envs.dynamics.advance` calls
them in order, with the mobility, channel and arrival models' own kernels in
between (SYSTEM_MODEL sections 5-7 and 12). Units: bits, seconds, joules.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gainnet_rl.envs import rng
from gainnet_rl.envs.models.channel_kernels import (
    NEED_MEASURE,
    NEED_REQUEST,
    NEED_SERVING,
    db_to_linear1,
    ul_rate1,
)


@njit(cache=True)
def sense_rows(  # pragma: no cover - compiled
    rows, slot, ring, ring_slots, assoc, sensing, buf, sensed, gain_db, h_re, h_im,
    add_bits, cap_bits, ul_bw_hz, ul_share, slot_s, tx_w, n0, alpha, sinr_min, se_max,
    events, energy,
):  # fmt: skip
    """Pop each row's ring slot into ``events`` (n, F) and run the slot's sensing.

    Devices of an edge with a sensing share fill their buffers by
    ``add_bits`` (capped at ``cap_bits``) and upload over an equal split of
    the edge's sensing share of the uplink at their associated link's rate;
    uploaded bits add to the edge's ``sensed`` bits; ``energy`` (n,) gets
    the devices' transmit energy (J, uplink time only, TDD).
    """
    U, E = assoc.shape[1], sensing.shape[1]
    F = ring.shape[2]
    for i in range(rows.size):
        b = rows[i]
        h = slot[b] % ring_slots
        for f in range(F):
            events[i, f] = ring[b, h, f]
            ring[b, h, f] = 0.0
        n_same = np.zeros(E, np.int64)
        up_edge = np.zeros(E)
        for u in range(U):
            n_same[assoc[b, u]] += 1
        t_up = 0.0
        for u in range(U):
            e = assoc[b, u]
            share = sensing[b, e]
            on = share > 0
            x = min(buf[b, u] + (add_bits if on else 0.0), cap_bits)
            rate = 0.0
            if on:
                bw = share * ul_bw_hz / max(n_same[e], 1)
                g = db_to_linear1(gain_db[b, u, e]) * (
                    h_re[b, u, e] * h_re[b, u, e] + h_im[b, u, e] * h_im[b, u, e]
                )
                rate = ul_rate1(g, bw, ul_share, tx_w, n0, alpha, sinr_min, se_max)
            up = min(x, rate * slot_s)
            buf[b, u] = x - up
            up_edge[e] += up
            if rate > 0:
                t_up += up / rate
        for e in range(E):
            sensed[b, e] = sensed[b, e] + up_edge[e]
        energy[i] = tx_w * ul_share * t_up


@njit(cache=True)
def sensing_need_rows(rows, assoc, sensing, need):  # pragma: no cover - compiled
    """``need`` (n, U): :data:`NEED_SERVING` for the devices that upload sensing
    data this slot (their edge has a sensing share), 0 for the rest."""
    U = assoc.shape[1]
    for i in range(rows.size):
        b = rows[i]
        for u in range(U):
            need[i, u] = NEED_SERVING if sensing[b, assoc[b, u]] > 0 else 0


@njit(cache=True)
def slot_need_rows(rows, slot, measure_slots, n_req, q_device, need):  # pragma: no cover
    """``need`` (n, U) of a slot's start: :data:`NEED_MEASURE` for every device
    at a measurement slot (a multiple of ``measure_slots``), plus
    :data:`NEED_REQUEST` for the devices with a request queued."""
    U = need.shape[1]
    for i in range(rows.size):
        b = rows[i]
        f = NEED_MEASURE if slot[b] % measure_slots == 0 else 0
        for u in range(U):
            need[i, u] = f
        for r in range(n_req[b]):
            need[i, q_device[b, r]] |= NEED_REQUEST


@njit(cache=True)
def handover_rows(  # pragma: no cover - compiled
    rows, slot, measure_slots, assoc, gain_db, hysteresis_db, count
):  # fmt: skip
    """At a measurement slot (a multiple of ``measure_slots``), re-associate a
    device to its strongest edge when that edge's large-scale gain exceeds the
    current one's by more than ``hysteresis_db``; ``count`` (n,) gets the
    handovers (0 between measurements)."""
    U, E = gain_db.shape[1], gain_db.shape[2]
    for i in range(rows.size):
        b = rows[i]
        c = 0
        if slot[b] % measure_slots == 0:
            for u in range(U):
                best = 0
                for e in range(1, E):
                    if gain_db[b, u, e] > gain_db[b, u, best]:
                        best = e
                if gain_db[b, u, best] > gain_db[b, u, assoc[b, u]] + hysteresis_db:
                    assoc[b, u] = best
                    c += 1
        count[i] = c


@njit(cache=True)
def frame_rows(  # pragma: no cover - compiled
    rows, slot, frame_slots, episode_slots, plan, finetune, edge_scale, edge_up, sensed,
    knowledge, cloud_knowledge, bh_free_s, plan_ft_params_b, ft_efficiency, peak_flops,
    frame_s, tokens_per_mbit, edge_power_w, decay, relay, backhaul_bps, slot_s, energy,
    plan_ptr,
):  # fmt: skip
    """At a frame boundary (slot a multiple of K, before the episode's end):
    fine-tune on the frame's sensed data (at most ``eta F / (6 N)`` tokens of
    the fine-tuning share, its energy added to ``energy``), decay and grow
    each edge's knowledge, relay a share to the cloud over the backhaul, and
    open the frame's plan decisions (``plan_ptr`` 0; E otherwise)."""
    E = plan.shape[1]
    for i in range(rows.size):
        b = rows[i]
        t = slot[b]
        if not (t % frame_slots == 0 and t < episode_slots):
            plan_ptr[b] = E
            continue
        busy_sum = 0.0
        data_sum = 0.0
        now = t * slot_s
        for e in range(E):
            ft_params = plan_ft_params_b[plan[b, e]] * 1e9
            cap = 0.0
            if ft_params > 0:
                up = 1.0 if edge_up[b, e] else 0.0
                flops = finetune[b, e] * edge_scale[b, e] * up * ft_efficiency * peak_flops
                cap = flops * frame_s / (6.0 * ft_params)
            data = sensed[b, e] / 1e6 * tokens_per_mbit
            data_sum += data
            tuned = min(data, cap)
            busy = tuned / cap if cap > 0 else 0.0
            busy_sum += finetune[b, e] * (1.0 if edge_up[b, e] else 0.0) * busy
            knowledge[b, e] = decay * knowledge[b, e] + tuned
            relay_bits = relay * sensed[b, e]
            if relay_bits > 0:
                bh_free_s[b, e] = max(bh_free_s[b, e], now) + relay_bits / backhaul_bps
            sensed[b, e] = 0.0
        energy[i] += edge_power_w * frame_s * busy_sum
        cloud_knowledge[b] = decay * cloud_knowledge[b] + relay * data_sum
        plan_ptr[b] = 0


@njit(cache=True)
def enqueue_rows(  # pragma: no cover - compiled
    rows, slot, key, counts, episode_slots, ring, ring_slots, dropped_col, ep, ep_cols,
    carry_reward, w_drop, n_req, req_ptr, q_device, q_service, q_in, q_out, q_up, q_down,
    q_deadline, q_min_quality, q_private, service_cdf, in_lo, in_hi, out_lo, out_hi,
    pay_lo, pay_hi, bits_per_token, is_vision, visual_tokens, dl_lo, dl_hi, mq_lo, mq_hi,
    private_prob,
):  # fmt: skip
    """Queue the requests of each row's slot (none at the episode's end).

    ``counts`` (n, U, 1) are the requests per device, each request's
    service drawn from the shares (``service_cdf``); (n, U, S) the requests
    per device and service. The queue holds R per
    slot, in a random order (a uniform per device, stream ARRIVAL_ORDER,
    ties in device order); the rest are dropped and pay ``w_drop`` each (to
    the episode totals and ``carry_reward``). Request fields come from
    uniforms 7 r .. 7 r + 6 of stream REQUEST_FIELDS for queue position r:
    service, deadline, prompt and output tokens, quality floor, privacy,
    payload. ``ep_cols``: the ``ep`` columns arrived, overflow, reward,
    term_drop_miss.
    """
    U, Sc = counts.shape[1], counts.shape[2]
    R = q_device.shape[1]
    S = service_cdf.shape[0]
    for i in range(rows.size):
        b = rows[i]
        t = slot[b]
        total = 0
        if t < episode_slots:
            for u in range(U):
                for c in range(Sc):
                    total += counts[i, u, c]
        ep[b, ep_cols[0]] += total
        over = max(total - R, 0)
        if over > 0:
            ep[b, ep_cols[1]] += over
            ring[b, t % ring_slots, dropped_col] += float(over)
            pen = w_drop * over
            ep[b, ep_cols[2]] -= pen
            ep[b, ep_cols[3]] -= pen
            carry_reward[b] -= pen
        n_req[b] = min(total, R)
        req_ptr[b] = 0
        if total == 0:
            continue
        dev = np.empty(total, np.int64)
        src = np.empty(total, np.int64)  # u Sc + service (per-service counts) or u
        k = 0
        for u in range(U):
            for c in range(Sc):
                for _ in range(counts[i, u, c]):
                    dev[k] = u
                    src[k] = u * Sc + c
                    k += 1
        if total > 1:  # ties (a device's requests of one source) keep their order
            head = rng.head1(key[b], t, rng.Stream.ARRIVAL_ORDER)
            order_key = np.empty(total)
            for k in range(total):
                order_key[k] = rng.uniform1(head, src[k])
            order = np.argsort(order_key, kind="mergesort")
            dev, src = dev[order], src[order]
        head = rng.head1(key[b], t, rng.Stream.REQUEST_FIELDS)
        for r in range(min(total, R)):
            if Sc > 1:
                svc = src[r] - dev[r] * Sc
            else:
                v0 = rng.uniform1(head, 7 * r)
                svc = 0
                while svc < S and service_cdf[svc] <= v0:
                    svc += 1
                svc = min(svc, S - 1)
            v = np.empty(7)
            for c in range(1, 7):
                v[c] = rng.uniform1(head, 7 * r + c)
            prompt = np.rint(in_lo[svc] + (in_hi[svc] - in_lo[svc]) * v[2])
            out_tok = np.rint(out_lo[svc] + (out_hi[svc] - out_lo[svc]) * v[3])
            payload = pay_lo[svc] + (pay_hi[svc] - pay_lo[svc]) * v[6]
            bpt = bits_per_token[svc]
            q_device[b, r] = dev[r]
            q_service[b, r] = svc
            q_deadline[b, r] = dl_lo[svc] + (dl_hi[svc] - dl_lo[svc]) * v[1]
            q_in[b, r] = prompt + visual_tokens[svc]
            q_out[b, r] = out_tok
            q_up[b, r] = prompt * bpt + (payload if is_vision[svc] else 0.0)
            q_down[b, r] = out_tok * bpt + (0.0 if is_vision[svc] else payload)
            q_min_quality[b, r] = mq_lo[svc] + (mq_hi[svc] - mq_lo[svc]) * v[4]
            q_private[b, r] = v[5] < private_prob[svc]


@njit(cache=True)
def demand_rows(  # pragma: no cover - compiled
    rows, slot, episode_slots, n_req, q_device, q_service, assoc, decay, slot_s, demand
):  # fmt: skip
    """The demand history (SYSTEM_MODEL sec. 13.3): ``demand`` (B, E, S, H)
    arrivals per second per edge (the device's serving edge) and service,
    an exponentially weighted average per horizon, ``x <- d x + (1 - d) n /
    slot_s`` with ``d = decay[h]``, over the requests queued this slot (none
    after the episode's end)."""
    E, S, H = demand.shape[1], demand.shape[2], demand.shape[3]
    n = np.zeros((E, S))
    for i in range(rows.size):
        b = rows[i]
        if slot[b] >= episode_slots:
            continue
        n[:] = 0.0
        for r in range(n_req[b]):
            n[assoc[b, q_device[b, r]], q_service[b, r]] += 1.0
        for e in range(E):
            for s in range(S):
                rate = n[e, s] / slot_s
                for h in range(H):
                    demand[b, e, s, h] = decay[h] * demand[b, e, s, h] + (1.0 - decay[h]) * rate
