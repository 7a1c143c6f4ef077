"""What each option of the current decision would bring: the exact outcome
of every request option (``request_outcomes``), the valid actions
(``action_mask``, ``plan_choices``) and the shares they depend on."""

from __future__ import annotations

import numpy as np

from gainnet_rl.envs.params import Params
from gainnet_rl.envs.state import (
    DECISION_NONE,
    DECISION_PLAN,
    DECISION_REQUEST,
    NEVER,
    State,
    airtime,
    arange,
    db_to_linear,
    derived,
    earliest,
    held,
)


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
        k_ul, ul_free = earliest(state.ul_free_s)
        up_start = np.maximum(t0[:, None], ul_free)
        up_end = up_start + airtime(up_bits[:, None], rate_ul)
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
        tau = np.where(feasible, tau, NEVER)
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
        k_dl, dl_free = earliest(state.dl_free_s)
        dl_start = np.maximum(comp_end, dl_free)
        dl_time = airtime(down_bits[:, None], rate_dl)
        dl_end = dl_start + dl_time
        lat_e = dl_end - t0[:, None]
        q_e = p.tier_quality[sv, tier0] + p.finetune_gain[sv] * knowledge_factor(state.knowledge, p)
        run_power = p.edge_power_w * (1.0 - state.finetune) / n_batch  # W while it runs
        # the device transmits only in uplink time (TDD: a share of the wall time)
        tx_e = ch.device_tx_w * p.ul_time_share * held(up_end, up_start, t_dE)
        en_e = tx_e + run_power * held(comp_end, comp_start, t_dE)
        valid_e = (tier >= 0) & (state.tier_ready_slot[rows, :, s] <= state.slot[:, None])
        valid_e &= in_range & state.edge_up & (kv_req <= budget + 1e-9)
        # --- cloud, through the associated edge's uplink, backhaul and downlink
        a = state.assoc[rows, u]
        up_start_c, up_end_c = up_start[rows, a], up_end[rows, a]
        bh_start = np.maximum(up_end_c, state.bh_free_s[rows, a])
        bh_end = bh_start + up_bits / p.backhaul_bps
        k_c, c_free = earliest(state.cloud_free_s)
        c_start = np.maximum(bh_end + p.backhaul_latency_s, c_free)
        c_service = p.cloud_fixed_s[s] + p.cloud_out_s[s] * out_tok
        c_end = c_start + c_service
        back = c_end + down_bits / p.backhaul_bps + p.backhaul_latency_s
        dl_start_c = np.maximum(back, dl_free[rows, a])
        dl_end_c = dl_start_c + dl_time[rows, a]
        lat_c = dl_end_c - t0
        q_c = p.cloud_quality[s] + p.finetune_gain[s] * knowledge_factor(state.cloud_knowledge, p)
        c_run = held(c_end, c_start, t_d)
        c_done = np.minimum(c_run / np.maximum(c_service, 1e-12), 1.0)
        cost_c = (c_start < t_d) * p.cloud_usd_in[s] * in_tok + c_done * (
            p.cloud_usd_fixed[s] + p.cloud_usd_out[s] * out_tok
        )
        en_c = ch.device_tx_w * p.ul_time_share * held(up_end_c, up_start_c, t_d)
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
        en_l = p.device_power_w * held(l_end, l_start, t_d)
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
