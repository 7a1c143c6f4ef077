"""What each option of the current decision would bring: the exact outcome
of every request option (``request_outcomes``), the valid actions
(``action_mask``, ``plan_choices``) and the shares they depend on."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from gainnet_rl.envs.models.channel_kernels import db_to_linear1, se1, ul_rate1
from gainnet_rl.envs.params import Params
from gainnet_rl.envs.state import (
    DECISION_NONE,
    DECISION_PLAN,
    DECISION_REQUEST,
    State,
    derived,
)


@njit(cache=True, inline="always")
def compute_share1(finetune: float, scale: float, up: bool) -> float:  # pragma: no cover
    """Share of an edge's nominal compute that serves requests: one less the
    fine-tuning share, times the speed multiplier, zero while down; floored
    at 1e-9 (a down edge's service time is huge, not infinite)."""
    return max((1.0 - finetune) * scale * up, 1e-9)


@njit(cache=True, inline="always")
def knowledge1(k_tokens: float, scale_tokens: float) -> float:  # pragma: no cover
    """``1 - exp(-k / kappa_k)``: the share of a tier's fine-tuning gain reached."""
    return 1.0 - math.exp(-k_tokens / scale_tokens)


@njit(cache=True, inline="always")
def held1(end: float, start: float, until: float) -> float:  # pragma: no cover - compiled
    """Time a stage from ``start`` to ``end`` runs before ``until`` (>= 0)."""
    return max(min(end, until) - start, 0.0)


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
    rows = np.arange(state.batch_size) if idx is None else idx
    ok = np.empty((rows.size, p.num_plans), dtype=bool)
    _plan_choice_rows(
        rows, state.plan_ptr, state.slot, state.st_kv_held_gb, state.st_free_s, state.plan,
        p.plan_memory_gb, p.plan_allowed, p.edge_memory_gb, p.slot_s, ok,
    )  # fmt: skip
    return ok


@njit(cache=True)
def _plan_choice_rows(  # pragma: no cover - compiled
    rows, plan_ptr, slot, kv_held, st_free, plan, plan_memory, allowed, edge_memory, slot_s, ok
):  # fmt: skip
    """Rows of :func:`plan_choices` into ``ok`` (n, P)."""
    E = plan.shape[1]
    for i in range(rows.size):
        b = rows[i]
        e = min(plan_ptr[b], E - 1)
        now = slot[b] * slot_s
        kv = 0.0
        for j in range(st_free.shape[2]):
            kv += kv_held[b, e, j] if st_free[b, e, j] > now else 0.0
        for k in range(plan_memory.shape[0]):
            ok[i, k] = allowed[k] and plan_memory[k] + kv <= edge_memory + 1e-9
        ok[i, plan[b, e]] = True


#: Outputs of the kernel, in its argument order: key -> (shape: "O" (B, O),
#: "E" (B, E) or "" (B,); dtype). Option arrays start at zero (padded edges).
_KERNEL_KEYS: dict[str, tuple[str, type]] = {
    "valid": ("O", np.bool_),
    "latency_s": ("O", np.float64),
    "quality": ("O", np.float64),
    "energy_j": ("O", np.float64),
    "cost_usd": ("O", np.float64),
    "dropped": ("O", np.bool_),
    "met": ("O", np.bool_),
    "missed": ("O", np.bool_),
    "device": ("", np.int64),
    "service": ("", np.int64),
    "deadline_s": ("", np.float64),
    "t_deadline_s": ("", np.float64),
    "assoc": ("", np.int64),
    "in_range": ("E", np.bool_),
    "gain_db": ("E", np.float64),
    "up_bits": ("", np.float64),
    "k_ul": ("E", np.int64),
    "up_start_s": ("E", np.float64),
    "up_end_s": ("E", np.float64),
    "kv_gb": ("E", np.float64),
    "ready_s": ("E", np.float64),
    "stream": ("E", np.int64),
    "n_batch": ("E", np.int64),
    "comp_start_s": ("E", np.float64),
    "comp_end_s": ("E", np.float64),
    "run_power_w": ("E", np.float64),
    "tx_energy_j": ("E", np.float64),
    "k_dl": ("E", np.int64),
    "dl_start_s": ("E", np.float64),
    "dl_end_s": ("E", np.float64),
    "dl_start_cloud_s": ("", np.float64),
    "dl_end_cloud_s": ("", np.float64),
    "bh_start_s": ("", np.float64),
    "bh_end_s": ("", np.float64),
    "k_cloud": ("", np.int64),
    "cloud_start_s": ("", np.float64),
    "cloud_end_s": ("", np.float64),
    "local_start_s": ("", np.float64),
    "local_end_s": ("", np.float64),
    "edge_quality": ("E", np.float64),
    "work_edge_s": ("E", np.float64),
    "work_cloud_s": ("", np.float64),
}
_KERNEL_GROUPS = [
    (group, [k for k, g in _KERNEL_KEYS.items() if g == group])
    for group in dict.fromkeys(_KERNEL_KEYS.values())
]


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
    option's outcome is what happens. Computed by the compiled kernel
    :func:`_outcome_rows`; the reward model then prices the outcomes.
    """
    ch, d = p.channel, derived(p)
    c, pr = state.channel, p
    ul, dl = ch.ul_link, ch.dl_link
    B, E, O = state.batch_size, p.num_edges, p.num_options
    shape = {"O": (B, O), "E": (B, E), "": (B,)}
    out: dict[str, np.ndarray] = {}
    for (kind, dtype), keys in _KERNEL_GROUPS:  # one block per shape and dtype
        block = (np.zeros if kind == "O" else np.empty)((len(keys), *shape[kind]), dtype)
        out.update(zip(keys, block, strict=True))
    _outcome_rows(
        state.slot, state.req_ptr, state.q_device, state.q_service, state.q_in_tokens,
        state.q_out_tokens, state.q_up_bits, state.q_down_bits, state.q_deadline_s,
        state.q_min_quality, state.q_private, state.gain_db, c["h_re"], c["h_im"], state.assoc,
        state.sensing, state.ul_free_s, state.dl_free_s, state.bh_free_s, state.st_free_s,
        state.st_kv_gb, state.st_last_start_s, state.cloud_free_s, state.device_free_s,
        state.edge_tier, state.tier_ready_slot, state.plan, state.finetune, state.edge_scale,
        state.edge_up, state.knowledge, state.cloud_knowledge,
        pr.max_edges, pr.slot_s, d.range_gain_db, d.ul_sub_hz, d.dl_sub_hz, pr.dl_bandwidth_hz,
        pr.ul_time_share, pr.dl_time_share, ch.device_tx_w, ch.bs_noise_w_per_hz, ul[0], ul[1],
        ul[2], ch.bs_tx_w, ch.device_noise_w_per_hz * pr.dl_bandwidth_hz, dl[0], dl[1], dl[2],
        pr.tier_kv_fixed_gb, pr.tier_kv_per_token_gb, pr.plan_kv_budget_gb, pr.max_batch,
        pr.tier_fixed_s, pr.tier_in_s, pr.tier_out_s, pr.tier_beta, pr.tier_quality,
        pr.finetune_gain, pr.knowledge_scale_tokens, pr.edge_power_w, pr.backhaul_bps,
        pr.backhaul_latency_s, pr.cloud_fixed_s, pr.cloud_out_s, pr.cloud_quality,
        pr.cloud_usd_in, pr.cloud_usd_fixed, pr.cloud_usd_out, pr.device_tier,
        pr.tier_device_fixed_s, pr.tier_device_in_s, pr.tier_device_out_s, pr.device_power_w,
        *[out[k] for k in _KERNEL_KEYS],
    )  # fmt: skip
    terms = p.reward.request_terms(
        out["quality"], out["met"], out["missed"], out["dropped"], out["latency_s"],
        out["energy_j"], out["cost_usd"],
    )  # fmt: skip
    out["terms"] = terms
    out["reward"] = terms.sum(axis=-1)
    return out


@njit(cache=True, inline="always")
def _airtime(bits: float, rate_bps: float) -> float:  # pragma: no cover - compiled
    """Seconds to send ``bits`` at ``rate_bps``: 0 for nothing, inf where the link is out."""
    if bits > 0:
        return bits / rate_bps if rate_bps > 0 else np.inf
    return 0.0


@njit(cache=True, inline="always")
def _earliest(free: np.ndarray) -> tuple[int, float]:  # pragma: no cover - compiled
    """Index and time of the earliest free server (the first on ties)."""
    k = 0
    for j in range(1, free.shape[0]):
        if free[j] < free[k]:
            k = j
    return k, free[k]


@njit(cache=True, error_model="numpy")
def _outcome_rows(  # pragma: no cover - compiled
    slot, req_ptr, q_device, q_service, q_in, q_out, q_up, q_down, q_deadline, q_min_q,
    q_private, gain_db, h_re, h_im, assoc, sensing, ul_free, dl_free, bh_free, st_free,
    st_kv, st_last_start, cloud_free, device_free, edge_tier, tier_ready, plan, finetune,
    edge_scale, edge_up, knowledge, cloud_knowledge,
    E_max, slot_s, range_gain_db, ul_sub_hz, dl_sub_hz, dl_bw_hz, ul_share, dl_share,
    tx_w, ul_n0, ul_alpha, ul_smin, ul_semax, bs_tx_w, dl_n0_carrier, dl_alpha, dl_smin,
    dl_semax, kv_fixed, kv_per_token, kv_budget, max_batch, t_fixed, t_in, t_out, beta,
    tier_quality, ft_gain, k_scale, edge_power_w, bh_bps, bh_lat_s, c_fixed, c_out,
    c_quality, usd_in, usd_fixed, usd_out, device_tier, d_fixed, d_in, d_out,
    device_power_w,
    valid, latency, quality, energy, cost, dropped, met, missed, dev, svc, dline, t_dl,
    a_out, in_range, g_db_out, upb, k_ul, up_s, up_e, kv_out, ready_out, stream_out,
    nb_out, cs_out, ce_out, rp_out, tx_out, k_dl, dls_out, dle_out, dlsc, dlec, bhs, bhe,
    k_c_out, cs_c, ce_c, ls_out, le_out, qe_out, work_e, work_c,
):  # fmt: skip
    """Every option's outcome for each sub-env's current request (see
    :func:`request_outcomes`): FIFO uplink sub-band, the earliest stream start
    that fits the request's KV cache beside the decided ones (batching
    slows each by ``1 + beta (n - 1)``), downlink sub-band; the cloud through
    the associated edge's uplink, backhaul and downlink; the device's own
    model. Every stage holds its server only until the deadline. Writes the
    outputs (the last arguments, :data:`_KERNEL_KEYS` in order)."""
    B, E, C = st_free.shape[0], st_free.shape[1], st_free.shape[2]
    R = q_device.shape[1]
    O = E_max + 3
    for b in range(B):
        r = min(req_ptr[b], R - 1)
        u, s = q_device[b, r], q_service[b, r]
        n_in, n_out = q_in[b, r], q_out[b, r]
        up_bits, down_bits = q_up[b, r], q_down[b, r]
        deadline = q_deadline[b, r]
        t0 = slot[b] * slot_s
        t_d = t0 + deadline  # the request is aborted at this instant if not delivered
        rate_ul_e, rate_dl_e, dl_time_e = np.empty(E), np.empty(E), np.empty(E)
        dl_free_e = np.empty(E)
        for e in range(E):
            g_db = gain_db[b, u, e]
            g = db_to_linear1(g_db) * (h_re[b, u, e] ** 2 + h_im[b, u, e] ** 2)
            in_range[b, e] = g_db >= range_gain_db
            g_db_out[b, e] = g_db
            # uplink: the earliest free sub-band, at full device power
            rate_ul = ul_rate1(g, (1.0 - sensing[b, e]) * ul_sub_hz, ul_share, tx_w, ul_n0,
                               ul_alpha, ul_smin, ul_semax)  # fmt: skip
            k, free = _earliest(ul_free[b, e])
            k_ul[b, e] = k
            start = max(t0, free)
            end = start + _airtime(up_bits, rate_ul)
            up_s[b, e], up_e[b, e] = start, end
            # edge compute: the earliest start with a free stream and the request's KV
            tier = edge_tier[b, e, s]
            t_ = max(tier, 0)
            kv_req = kv_fixed[s, t_] + kv_per_token[s, t_] * (n_in + n_out)
            budget = kv_budget[plan[b, e]]
            ready = max(end, st_last_start[b, e])
            best, best_busy, busy0 = np.inf, -1, 0
            for j in range(C):  # candidate start: when stream j frees
                tau = max(ready, st_free[b, e, j])
                n_busy, kv_busy = 0, 0.0
                for m in range(C):
                    if st_free[b, e, m] > tau:
                        n_busy += 1
                        kv_busy += st_kv[b, e, m]
                if j == 0:
                    busy0 = n_busy
                if n_busy < max_batch and kv_busy + kv_req <= budget + 1e-9 and tau < best:
                    best, best_busy = tau, n_busy
            if best_busy < 0:  # no start fits: never (the first candidate's batch)
                best_busy = busy0
            n_batch = best_busy + 1
            stream, _ = _earliest(st_free[b, e])
            share = compute_share1(finetune[b, e], edge_scale[b, e], edge_up[b, e])
            t1 = t_fixed[s, t_] + t_in[s, t_] * n_in + t_out[s, t_] * n_out
            service = t1 * (1.0 + beta[s, t_] * (n_batch - 1)) / share
            comp_end = best + service
            # downlink: the earliest free sub-band of the edge
            rate_dl = (
                dl_share * dl_sub_hz * se1(bs_tx_w * g / dl_n0_carrier, dl_alpha, dl_smin, dl_semax)
            )
            k, free = _earliest(dl_free[b, e])
            k_dl[b, e] = k
            dl_free_e[e] = free
            dl_start = max(comp_end, free)
            dl_time = _airtime(down_bits, rate_dl)
            dl_end = dl_start + dl_time
            q_e = tier_quality[s, t_] + ft_gain[s] * knowledge1(knowledge[b, e], k_scale)
            run_power = edge_power_w * (1.0 - finetune[b, e]) / n_batch  # W while it runs
            # the device transmits only in uplink time (TDD: a share of the wall time)
            tx_e = tx_w * ul_share * held1(end, start, t_d)
            ok = tier >= 0 and tier_ready[b, e, s] <= slot[b] and in_range[b, e] and edge_up[b, e]
            # a link in a deep fade this slot (rate 0) is not offered
            ok = ok and kv_req <= budget + 1e-9 and rate_ul > 0 and rate_dl > 0
            o = 1 + e
            valid[b, o] = ok
            latency[b, o] = dl_end - t0
            quality[b, o] = q_e
            energy[b, o] = tx_e + run_power * held1(comp_end, best, t_d)
            rate_ul_e[e], rate_dl_e[e], dl_time_e[e] = rate_ul, rate_dl, dl_time
            kv_out[b, e], ready_out[b, e], stream_out[b, e] = kv_req, ready, stream
            nb_out[b, e], cs_out[b, e], ce_out[b, e] = n_batch, best, comp_end
            rp_out[b, e], tx_out[b, e] = run_power, tx_e
            dls_out[b, e], dle_out[b, e], qe_out[b, e], work_e[b, e] = (
                dl_start,
                dl_end,
                q_e,
                service,
            )
        # cloud, through the associated edge's uplink, backhaul and downlink
        a = assoc[b, u]
        bh_start = max(up_e[b, a], bh_free[b, a])
        bh_end = bh_start + up_bits / bh_bps
        k, free = _earliest(cloud_free[b])
        c_start = max(bh_end + bh_lat_s, free)
        c_service = c_fixed[s] + c_out[s] * n_out
        c_end = c_start + c_service
        back = c_end + down_bits / bh_bps + bh_lat_s
        dl_start_c = max(back, dl_free_e[a])
        dl_end_c = dl_start_c + dl_time_e[a]
        c_done = min(held1(c_end, c_start, t_d) / max(c_service, 1e-12), 1.0)
        o = O - 2
        latency[b, o] = dl_end_c - t0
        quality[b, o] = c_quality[s] + ft_gain[s] * knowledge1(cloud_knowledge[b], k_scale)
        cost[b, o] = (1.0 if c_start < t_d else 0.0) * usd_in[s] * n_in + c_done * (
            usd_fixed[s] + usd_out[s] * n_out
        )
        energy[b, o] = tx_w * ul_share * held1(up_e[b, a], up_s[b, a], t_d)
        valid[b, o] = (
            (not q_private[b, r]) and in_range[b, a] and rate_ul_e[a] > 0 and rate_dl_e[a] > 0
        )
        # local, on the device's own model: prefill compute-bound, decode the
        # slower of that and reading the weights once per token
        tier_l = device_tier[s]
        tl = max(tier_l, 0)
        l_start = max(t0, device_free[b, u])
        l_end = l_start + (d_fixed[s, tl] + d_in[s, tl] * n_in + d_out[s, tl] * n_out)
        latency[b, 0] = l_end - t0
        quality[b, 0] = tier_quality[s, tl]
        energy[b, 0] = device_power_w * held1(l_end, l_start, t_d)
        valid[b, 0] = tier_l >= 0
        valid[b, O - 1] = True
        # late (or never: inf) requests are aborted at the deadline
        for o in range(O):
            drop = not (latency[b, o] <= deadline) or o == O - 1
            dropped[b, o] = drop
            if drop:
                latency[b, o] = deadline
                quality[b, o] = 0.0
            met[b, o] = (not drop) and quality[b, o] >= q_min_q[b, r]
            missed[b, o] = (not drop) and not met[b, o]
        latency[b, O - 1] = 0.0
        dev[b], svc[b], dline[b], t_dl[b], a_out[b], upb[b] = u, s, deadline, t_d, a, up_bits
        dlsc[b], dlec[b], bhs[b], bhe[b], k_c_out[b] = dl_start_c, dl_end_c, bh_start, bh_end, k
        cs_c[b], ce_c[b], ls_out[b], le_out[b], work_c[b] = (
            c_start,
            c_end,
            l_start,
            l_end,
            c_service,
        )


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
