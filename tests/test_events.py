"""Scheduled edge events (outage, compute cut) and the knowledge-flow switch.

An outage takes an edge's compute server down from its start slot: the mask
forbids the edge, its queue is emptied and the requests it was still serving
are dropped in the failure slot; the books still balance. A compute cut
multiplies the edge's speed. ``knowledge_flow: false`` forbids every plan
with sensing or fine-tuning, so knowledge only decays. On v1's 20 s
episodes (``version=1``): events do not depend on the demand, and the
times below are set for them.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.envs import GainNetEnv, GainNetVectorEnv, core
from gainnet_rl.envs.config import ConfigError, make_params

F = 100  # failure slot: start_s = 10 s with 0.1 s slots
OUTAGE = {"events": [{"kind": "outage", "edges": [0], "start_s": 10.0, "end_s": None}]}
CUT = {"events": [{"kind": "compute_cut", "edges": "all", "start_s": 10.0, "factor": 0.5}]}


def _edge0_or_reject(state: core.State, p: Any) -> np.ndarray:
    """Plans: the default; requests: edge 0 where valid and in time, else reject."""
    out = core.request_outcomes(state, p)
    mask = core.action_mask(state, p, out)
    req = core.decision_type(state, p) == core.DECISION_REQUEST
    go = req & mask[:, 1] & ~out["dropped"][:, 1]
    return np.where(go, 1, np.where(req, p.num_options - 1, p.default_plan))


def _run_until(state: core.State, p: Any, slot: int) -> core.State:
    while state.slot[0] < slot:
        state, _, _ = core.step(state, _edge0_or_reject(state, p), p)
    return state


def _rewarded_run(state: core.State, p: Any, slot: int) -> tuple[core.State, float]:
    total = 0.0
    while state.slot[0] < slot:
        state, r, _ = core.step(state, _edge0_or_reject(state, p), p)
        total += float(r[0])
    return state, total


def test_outage_loses_the_requests_in_flight_at_the_failure_slot() -> None:
    ov = {"load": 2.0}  # busy, so requests on edge 0 are still running when it fails
    p_fail = make_params("small", overrides={**ov, **OUTAGE}, version=1)
    p_ok = make_params("small", overrides=ov, version=1)
    keys = np.array([2], dtype=np.uint64)
    s_fail, r_fail = _rewarded_run(core.reset(keys, p_fail), p_fail, F)
    s_ok, r_ok = _rewarded_run(core.reset(keys, p_ok), p_ok, F)
    # Identical decisions before the failure: the same requests are in flight.
    n = core.pending(s_ok)[0]
    assert n > 0 and core.pending(s_fail)[0] == n
    # Without the outage some requests in flight complete later and are served;
    # with it, they are dropped in the failure slot instead (the ring still
    # holds every one of them: nothing is lost from the books).
    h = F % p_ok.ring_slots
    ring_ok, ring_fail = s_ok.ring, s_fail.ring
    total = lambda r: r["served"][0].sum() + r["dropped"][0].sum()
    assert total(ring_fail) == total(ring_ok) == n
    assert ring_fail["served"][0].sum() < ring_ok["served"][0].sum()
    moved = ring_ok["served"][0].sum() - ring_fail["served"][0].sum()
    assert ring_fail["dropped"][0, h] >= ring_ok["dropped"][0, h] + moved
    assert not s_fail.edge_up[0, 0] and s_fail.edge_up[0, 1:].all()
    assert (s_fail.st_free_s[0, 0] <= F * p_fail.slot_s + 1e-12).all()  # its streams are free
    assert (s_fail.st_kv_gb[0, 0] == 0).all()
    # The lost requests' reward difference is credited in the failure slot: the
    # books (return, episode reward, sum of the terms) agree, and the return
    # differs from the run without the outage (which decided identically).
    ep = core.episode_metrics(s_fail, p_fail)
    assert r_fail == pytest.approx(float(ep["reward"][0]), abs=1e-9)
    terms = sum(float(ep[f"reward_{t}"][0]) for t in core.TERMS)
    assert terms == pytest.approx(r_fail, abs=1e-9)
    assert r_fail != pytest.approx(r_ok, abs=1e-9)
    assert float(ep["energy_j"][0]) <= float(core.episode_metrics(s_ok, p_ok)["energy_j"][0])


def test_compute_cut_retimes_the_requests_queued_on_the_edge() -> None:
    """A cut to factor 0.5 at slot F dilates every decided request's remaining
    compute on the edge by 2 (SYSTEM_MODEL 12.5), and re-books its outcome."""
    cut = {"events": [{"kind": "compute_cut", "edges": [0], "start_s": 10.0, "factor": 0.5}]}
    p = make_params("small", overrides={"load": 2.0, **cut}, version=1)
    state = core.reset(np.array([4], dtype=np.uint64), p)
    state, _ = _rewarded_run(state, p, F - 1)
    # finish slot F - 1's decisions with edge 0 or reject, up to the advance into F
    before = state.records[0].copy()
    while state.slot[0] < F:
        before = state.records[0].copy()
        state, _, _ = core.step(state, _edge0_or_reject(state, p), p)
    t = F * p.slot_s
    c0 = {k: before[:, i] for i, k in enumerate(core.REC_FIELDS)}
    c1 = {k: state.records[0][:, i] for i, k in enumerate(core.REC_FIELDS)}
    hit = (
        (c0["active"] > 0) & (c0["edge"] == 0) & (c0["comp_end_s"] > t) & (c0["deadline_at_s"] > t)
    )
    assert hit.any()
    want_end = t + (c0["comp_end_s"][hit] - t) / 0.5
    np.testing.assert_allclose(c1["comp_end_s"][hit], want_end, rtol=1e-12)
    want_start = np.where(
        c0["comp_start_s"][hit] > t,
        t + (c0["comp_start_s"][hit] - t) / 0.5,
        c0["comp_start_s"][hit],
    )
    np.testing.assert_allclose(c1["comp_start_s"][hit], want_start, rtol=1e-12)
    # a slower edge only delays: no dropped request becomes served, and every
    # served one that stays served is delivered later
    assert not ((c0["served"][hit] == 0) & (c1["served"][hit] > 0)).any()
    both = (c0["served"][hit] > 0) & (c1["served"][hit] > 0)
    assert (c1["latency_s"][hit][both] > c0["latency_s"][hit][both]).all()
    ep = core.episode_metrics(state, p)
    assert ep["arrived"][0] == ep["served"][0] + ep["dropped"][0] + ep["pending"][0]


@pytest.mark.parametrize("events", [OUTAGE, CUT], ids=["outage", "compute_cut"])
@pytest.mark.parametrize("name", ["nearest_edge", "greedy_utility", "random"])
def test_conservation_and_mask_with_events(events: dict, name: str) -> None:
    env = GainNetEnv("small", load=1.5, overrides=events)
    policy = HEURISTICS[name](env, seed=0)
    obs, info = env.reset(seed=3)
    after = 0
    while True:
        state = env.engine.state
        if state.slot[0] >= F and info["decision_type"] == core.DECISION_REQUEST:
            after += 1
            if "outage" in str(events):
                assert not info["action_mask"][1], "the failed edge must be masked"
            else:
                np.testing.assert_array_equal(state.edge_scale[0], 0.5)
        elif state.slot[0] < F:
            assert state.edge_up[0].all() and (state.edge_scale[0] == 1.0).all()
        action, _ = policy.predict(obs, deterministic=True)
        obs, _, _, truncated, info = env.step(action)
        if truncated:
            break
    assert after > 0
    ep = info["episode_metrics"]
    assert ep["arrived"] == ep["served"] + ep["dropped"] + ep["pending"]
    assert ep["invalid_actions"] == 0 or name == "random"


def test_outage_with_end_recovers_after_reloading_models() -> None:
    ev = {"events": [{"kind": "outage", "edges": [1], "start_s": 5.0, "end_s": 8.0}]}
    p = make_params("small", overrides=ev, version=1)
    state = _run_until(core.reset(np.array([2], dtype=np.uint64), p), p, 80)
    assert state.edge_up[0, 1]
    held = state.edge_tier[0, 1] >= 0
    mem = p.tier_memory_gb[np.arange(p.num_services), np.maximum(state.edge_tier[0, 1], 0)]
    want = 80 + np.ceil(mem / p.model_load_gb_per_s / p.slot_s)
    np.testing.assert_array_equal(state.tier_ready_slot[0, 1][held], want[held])
    # until a model is loaded, requests for its service cannot go to the edge
    checked = 0
    while state.slot[0] < want[held].max():
        if core.decision_type(state, p)[0] == core.DECISION_REQUEST:
            s = state.q_service[0, state.req_ptr[0]]
            if state.slot[0] < state.tier_ready_slot[0, 1, s]:
                assert not core.action_mask(state, p)[0, 2]
                checked += 1
        state, _, _ = core.step(state, _edge0_or_reject(state, p), p)
    assert checked > 0


def test_events_keep_batched_scalar_parity() -> None:
    ov = {"events": [*OUTAGE["events"], *CUT["events"]]}
    venv = GainNetVectorEnv(3, "small", overrides=ov)
    rs = np.random.default_rng(0)
    obs, infos = venv.reset(seed=7)
    log, ended = [], np.zeros(3, dtype=bool)
    while not ended.all():  # through the events, to the end of every first episode
        mask = infos["action_mask"]
        act = np.argmax(np.where(mask, rs.random(mask.shape), -1), axis=1)
        obs, rew, _, trunc, infos = venv.step(act)
        log.append((act, obs, rew, trunc))
        ended |= trunc
        assert len(log) < 10_000
    for i in range(3):
        env = GainNetEnv("small", overrides=ov)
        env.reset(seed=7 + i)
        for act, v_obs, rew, trunc in log:
            o, r, _, t, _ = env.step(act[i])
            assert r == rew[i] and t == trunc[i]
            if not t:
                np.testing.assert_array_equal(o, v_obs[i])
            if t:
                break


def test_knowledge_flow_off_forbids_sensing_and_fine_tuning() -> None:
    p = make_params("small", overrides={"knowledge_flow": False}, version=1)
    allowed = core.plan_mask(p)
    assert allowed.any()
    assert (p.plan_finetune[allowed] == 0).all() and (p.plan_sensing[allowed] == 0).all()
    assert allowed[p.default_plan]
    env = GainNetEnv(params=p)
    policy = HEURISTICS["greedy_utility"](env)
    obs, info = env.reset(seed=0)
    frames = 0
    while True:
        obs, _, _, truncated, info = env.step(policy.predict(obs)[0])
        if truncated:
            break
    frames = (p.episode_slots - 1) // p.frame_slots  # knowledge updates at frames 1..T/K-1
    k = env.engine.state.knowledge[0]
    np.testing.assert_allclose(k, p.initial_knowledge_tokens * p.knowledge_decay**frames)
    assert info["episode_metrics"]["invalid_actions"] == 0


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"events": [{"kind": "flood", "edges": [0], "start_s": 1.0}]}, "events[0].kind"),
        ({"events": [{"kind": "outage", "edges": [7], "start_s": 1.0}]}, "events[0].edges"),
        ({"events": [{"kind": "outage", "edges": [], "start_s": 1.0}]}, "events[0].edges"),
        ({"events": [{"kind": "outage", "edges": [0], "start_s": 20.0}]}, "events[0].start_s"),
        ({"events": [{"kind": "outage", "edges": [0], "start_s": 5.0, "end_s": 5.0}]}, "end_s"),
        (
            {"events": [{"kind": "outage", "edges": [0], "start_s": 1.0, "factor": 0.5}]},
            "events[0].factor",
        ),
        (
            {"events": [{"kind": "compute_cut", "edges": [0], "start_s": 1.0, "factor": 1.5}]},
            "events[0].factor",
        ),
        ({"events": [{"kind": "compute_cut", "edges": [0], "start_s": 1.0}]}, "events[0].factor"),
        ({"events": [{"kind": "outage", "edges": [0], "start_s": 19.95}]}, "events[0].start_s"),
        (
            {"events": [{"kind": "outage", "edges": [0], "start_s": 1.01, "end_s": 1.05}]},
            "events[0].end_s",
        ),
        ({"events": "outage"}, "events"),
        ({"knowledge_flow": "no"}, "knowledge_flow"),
    ],
)
def test_bad_events_name_the_field(override: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(field)):
        make_params("small", overrides=override, version=1)
