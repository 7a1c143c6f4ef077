"""Scheduled edge events (outage, compute cut) and the in-flight records
they need: when an event changes decided requests' outcomes, the difference
is credited in the event's slot (SYSTEM_MODEL sec. 12.5)."""

from __future__ import annotations

import numpy as np

from gainnet_rl.envs.models.reward import TERMS
from gainnet_rl.envs.params import Params
from gainnet_rl.envs.state import (
    EP_INDEX,
    RC_INDEX,
    REC_FIELDS,
    TERM0,
    Rows,
    State,
    arange,
    event_slot,
    held,
    load_slots,
    ring_add,
)


def record(
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
    col = lambda k: rec[:, RC_INDEX[k]]
    t_d = out["t_deadline_s"][b]
    rec[:, RC_INDEX["active"]] = 1.0
    rec[:, RC_INDEX["edge"]] = e
    rec[:, RC_INDEX["stream"]] = j
    rec[:, RC_INDEX["t0_s"]] = t0[i]
    rec[:, RC_INDEX["deadline_at_s"]] = t_d
    # a request whose link is out (never started) keeps finite, inactive times
    dl_end, c_end = out["dl_end_s"][b, e], out["comp_end_s"][b, e]
    finite = np.isfinite(dl_end)
    rec[:, RC_INDEX["comp_start_s"]] = np.where(finite, out["comp_start_s"][b, e], t_d)
    rec[:, RC_INDEX["comp_end_s"]] = np.where(finite, c_end, t_d)
    rec[:, RC_INDEX["after_comp_s"]] = np.subtract(
        dl_end, c_end, out=np.zeros_like(t_d), where=finite
    )
    rec[:, RC_INDEX["ready_s"]] = np.where(finite, out["ready_s"][b, e], t_d)
    rec[:, RC_INDEX["k_ul"]] = out["k_ul"][b, e]
    rec[:, RC_INDEX["ul_hold_s"]] = np.minimum(out["up_end_s"][b, e], t_d)
    rec[:, RC_INDEX["k_dl"]] = out["k_dl"][b, e]
    rec[:, RC_INDEX["dl_hold_s"]] = np.where(finite, np.minimum(dl_end, t_d), t_d)
    rec[:, RC_INDEX["tx_energy_j"]] = out["tx_energy_j"][b, e]
    rec[:, RC_INDEX["run_power_w"]] = out["run_power_w"][b, e]
    rec[:, RC_INDEX["quality"]] = out["edge_quality"][b, e]
    rec[:, RC_INDEX["min_quality"]] = state.q_min_quality[
        b, np.minimum(state.req_ptr[b], p.max_new_requests - 1)
    ]
    rec[:, RC_INDEX["reward"]] = reward[i]
    rec[:, RC_INDEX["energy_j"]] = energy[i]
    rec[:, RC_INDEX["event_slot"]] = ev_slot[i]
    rec[:, RC_INDEX["served"]] = ~out["dropped"][b, 1 + e]
    rec[:, RC_INDEX["met"]] = out["met"][b, 1 + e]
    rec[:, RC_INDEX["missed"]] = out["missed"][b, 1 + e]
    rec[:, RC_INDEX["latency_s"]] = out["latency_s"][b, 1 + e]
    # a request aborted before it reached compute is not affected by edge events
    col("active")[:] = finite & (out["comp_start_s"][b, e] < t_d)
    state.records[b, pos] = rec


def apply_events(
    s: State, sub: Rows, p: Params, t: np.ndarray, was_up: np.ndarray, old_scale: np.ndarray
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
                reload, t[:, None, None] + load_slots(p, tiers, reload), sub.get("tier_ready_slot")
            ),
        )
    if not (went_down.any() or (ratio != 1.0).any()):
        return fix, fix_energy
    now = t * p.slot_s  # (n,)
    rec = s.records[rows]  # (n, Q, F) copy
    c = lambda k: rec[..., RC_INDEX[k]]
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
        energy = c("tx_energy_j") + c("run_power_w") * held(ce_new, cs_new, t_d)
        terms = p.reward.request_terms(q, met, missed, dropped, lat, energy, np.zeros_like(q))
        new_reward = terms.sum(axis=-1)
        change = lost | moved
        bq, qq = np.nonzero(change)
        old_slot = c("event_slot").astype(np.int64)[bq, qq]
        new_slot = np.maximum(event_slot(np.where(lost, nowq, t0 + lat)[bq, qq], p), t[bq])
        sb = rows[bq]
        ring_add(
            s, p, sb, old_slot, -1.0,
            c("served")[bq, qq] > 0, c("met")[bq, qq] > 0, c("missed")[bq, qq] > 0,
            c("quality")[bq, qq], c("latency_s")[bq, qq],
        )  # fmt: skip
        ring_add(
            s, p, sb, new_slot, 1.0, served[bq, qq], met[bq, qq], missed[bq, qq],
            q[bq, qq], lat[bq, qq],
        )  # fmt: skip
        d_reward = new_reward[bq, qq] - c("reward")[bq, qq]
        d_energy = energy[bq, qq] - c("energy_j")[bq, qq]
        np.add.at(fix, bq, d_reward)
        np.add.at(fix_energy, bq, d_energy)
        np.add.at(s.ep_totals[:, EP_INDEX["energy"]], sb, d_energy)
        np.add.at(
            s.ep_totals[:, EP_INDEX["aborted"]],
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
        np.add.at(s.ep_totals[:, TERM0 : TERM0 + len(TERMS)], sb, terms[bq, qq] - old_terms)
        until = np.minimum(t_d, p.episode_slots * p.slot_s)
        busy_old = held(ce, cs, until)[bq, qq]
        busy_new = held(ce_new, cs_new, until)[bq, qq]
        np.add.at(s.ep_totals[:, EP_INDEX["edge_busy_s"]], sb, busy_new - busy_old)
        # write back the records
        rec[..., RC_INDEX["comp_start_s"]] = cs_new
        rec[..., RC_INDEX["comp_end_s"]] = ce_new
        rec[..., RC_INDEX["reward"]] = np.where(change, new_reward, c("reward"))
        rec[..., RC_INDEX["energy_j"]] = np.where(change, energy, c("energy_j"))
        rec[..., RC_INDEX["served"]] = np.where(change, served, c("served"))
        rec[..., RC_INDEX["met"]] = np.where(change, met, c("met"))
        rec[..., RC_INDEX["missed"]] = np.where(change, missed, c("missed"))
        rec[..., RC_INDEX["latency_s"]] = np.where(change, lat, c("latency_s"))
        rec[bq, qq, RC_INDEX["event_slot"]] = new_slot
        rec[..., RC_INDEX["active"]] = np.where(lost, 0.0, c("active"))
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
