"""Scheduled edge events (outage, compute cut) and the knowledge-flow switch.

An outage takes an edge's compute server down from its start slot: the mask
forbids the edge, its queue is emptied and the requests it was still serving
are dropped in the failure slot; the books still balance. A compute cut
multiplies the edge's speed. ``knowledge_flow: false`` forbids every plan
with sensing or fine-tuning, so knowledge only decays.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.config import ConfigError
from gainnet_rl.envs import GainNetEnv, GainNetVectorEnv, core
from gainnet_rl.envs.engine import make_params

F = 100  # failure slot: start_s = 10 s with 0.1 s slots
OUTAGE = {"events": [{"kind": "outage", "edges": [0], "start_s": 10.0, "end_s": None}]}
CUT = {"events": [{"kind": "compute_cut", "edges": "all", "start_s": 10.0, "factor": 0.5}]}


def _edge0_or_reject(state: core.State, p: Any) -> np.ndarray:
    """Plans: the default; requests: edge 0 where valid, else reject."""
    mask = core.action_mask(state, p)
    req = core.decision_type(state, p) == core.DECISION_REQUEST
    return np.where(req & mask[:, 1], 1, np.where(req, p.num_options - 1, p.default_plan))


def _run_until(state: core.State, p: Any, slot: int) -> core.State:
    while state.slot[0] < slot:
        state, _, _ = core.step(state, _edge0_or_reject(state, p), p)
    return state


def test_outage_loses_the_requests_in_flight_at_the_failure_slot() -> None:
    ov = {"load": 2.0}  # busy, so requests on edge 0 are still running when it fails
    p_fail = make_params("small", overrides={**ov, **OUTAGE})
    p_ok = make_params("small", overrides=ov)
    keys = np.array([2], dtype=np.uint64)
    s_fail = _run_until(core.reset(keys, p_fail), p_fail, F)
    s_ok = _run_until(core.reset(keys, p_ok), p_ok, F)
    # Identical decisions before the failure: the same requests are in flight.
    n = core.pending(s_ok)[0]
    assert n > 0 and core.pending(s_fail)[0] == n
    h = F % p_ok.ring_slots
    ring_ok, ring_fail = s_ok.ring, s_fail.ring
    # Without the outage some complete later and are served ...
    assert ring_ok["served"][0].sum() > 0 and ring_ok["served"][0].sum() > ring_ok["served"][0, h]
    # ... with it, every one of them is dropped in the failure slot.
    assert ring_fail["served"][0].sum() == 0
    assert ring_fail["dropped"][0, h] == n
    assert not s_fail.edge_up[0, 0] and s_fail.edge_up[0, 1:].all()
    assert s_fail.edge_work_s[0, 0] == 0.0


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
    p = make_params("small", overrides=ev)
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
    p = make_params("small", overrides={"knowledge_flow": False})
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
    k = env.engine.state.knowledge_mbit[0]
    np.testing.assert_allclose(k, p.initial_knowledge_mbit * p.knowledge_decay**frames)
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
        make_params("small", overrides=override)
