"""Invariants over random configurations (hypothesis): memory never exceeded,
shares within their pools, backlogs non-negative, requests conserved, and no
NaN or inf in observations, rewards, infos, option outcomes or state."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gainnet_rl.envs import GainNetEnv, core
from gainnet_rl.envs.config import load_scenario
from gainnet_rl.envs.engine import Engine
from gainnet_rl.envs.params import Params, build_params

BASE = load_scenario("small")
MODELS = "gainnet_rl.envs.models"
MOBILITY = {
    "Static": {"_target_": f"{MODELS}.mobility.Static"},
    "RandomWaypoint": {
        "_target_": f"{MODELS}.mobility.RandomWaypoint",
        "min_speed_mps": 0.5,
        "max_speed_mps": 1.5,
    },
    "MultiLaneRoad": {
        "_target_": f"{MODELS}.mobility.MultiLaneRoad",
        "lanes": 4,
        "lane_width_m": 3.5,
        "min_speed_mps": 10.0,
        "max_speed_mps": 30.0,
    },
}
ARRIVALS = {
    "Poisson": {"_target_": f"{MODELS}.arrivals.PoissonArrivals"},
    "Bursty": {
        "_target_": f"{MODELS}.arrivals.BurstyArrivals",
        "burst_factor": 5.0,
        "p_enter_burst": 0.05,
        "p_leave_burst": 0.1,
    },
}
BACKLOGS = (
    "ul_free_s",
    "dl_free_s",
    "bh_free_s",
    "st_free_s",
    "st_kv_gb",
    "st_kv_held_gb",
    "cloud_free_s",
    "device_free_s",
)
OPTION_KEYS = ("latency_s", "quality", "energy_j", "cost_usd", "reward", "terms")
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    cfg = copy.deepcopy(BASE)
    cfg["num_edges"] = draw(st.integers(1, 4))
    cfg["num_devices"] = draw(st.integers(1, 30))
    cfg["load"] = draw(st.floats(0.0, 4.0))
    cfg["frame_slots"] = draw(st.integers(1, 10))
    cfg["episode_slots"] = draw(st.integers(10, 200))
    # from just enough for the default plan's smallest tier to more than every tier together
    cfg["network"]["edge_memory_gb"] = draw(st.floats(4.6, 48.0))
    cfg["network"]["ul_bandwidth_hz"] = 10.0 ** draw(st.floats(5.0, 8.0))
    cfg["network"]["dl_bandwidth_hz"] = 10.0 ** draw(st.floats(5.0, 8.0))
    cfg["network"]["ul_subbands"] = draw(st.integers(1, 8))
    cfg["network"]["max_batch"] = draw(st.integers(1, 8))
    cfg["network"]["reference_batch"] = draw(st.integers(1, cfg["network"]["max_batch"]))
    cfg["network"]["cloud_streams_per_edge"] = draw(st.floats(0.1, 4.0))
    if draw(st.booleans()):
        cfg["events"] = [
            {"kind": "outage", "edges": [0], "start_s": 0.5, "end_s": 1.5},
            {"kind": "compute_cut", "edges": "all", "start_s": 0.3, "factor": 0.3},
        ]
    cfg["mobility"] = copy.deepcopy(MOBILITY[draw(st.sampled_from(sorted(MOBILITY)))])
    cfg["arrivals"] = copy.deepcopy(ARRIVALS[draw(st.sampled_from(sorted(ARRIVALS)))])
    return cfg


def _finite(x: Any, where: str) -> None:
    if isinstance(x, dict):
        for k, v in x.items():
            _finite(v, f"{where}[{k!r}]")
        return
    a = np.asarray(x)
    if a.dtype.kind in "fc":
        assert np.all(np.isfinite(a)), f"non-finite values in {where}: {a}"


def _check_state(s: core.State, p: Params) -> None:
    # Memory of the tiers each edge holds (loading or ready), fine-tuning memory and
    # KV cache fit the edge: exactly from the last admitted start on (where every
    # stream holds its last request), and as planned (the most each stream holds).
    S = p.num_services
    held = np.where(
        s.edge_tier >= 0,
        p.tier_memory_gb[np.arange(S)[None, None, :], np.maximum(s.edge_tier, 0)],
        0.0,
    ).sum(axis=2)
    held += p.finetune_memory_gb * (s.finetune > 0)
    now = np.minimum(s.slot, p.episode_slots)[:, None] * p.slot_s
    last = np.maximum(s.st_last_start_s, now)[:, :, None]
    kv = np.where(s.st_free_s > last, s.st_kv_gb, 0.0).sum(axis=2)
    assert np.all(held + kv <= p.edge_memory_gb + 1e-9), (held, kv, p.edge_memory_gb)
    assert np.all(s.st_kv_gb <= s.st_kv_held_gb + 1e-12)
    assert np.all((s.st_free_s > now[:, :, None]).sum(axis=2) <= p.max_batch)
    # Fine-tuning takes a share of edge compute, sensing a share of edge bandwidth.
    for share in (s.finetune, s.sensing):
        assert np.all((share >= 0) & (share < 1)), share
    for name in BACKLOGS:
        v = getattr(s, name)
        assert np.all(v >= 0), (name, v)
    assert np.all(s.sense_buffer_bits >= 0)
    assert np.all(s.sense_buffer_bits <= p.sensing_buffer_bits + 1e-6)
    assert np.all(s.knowledge >= 0)
    for f in dataclasses.fields(s):
        _finite(getattr(s, f.name), f"state.{f.name}")
    m = core.episode_metrics(s, p)
    _finite(m, "episode_metrics")
    np.testing.assert_array_equal(m["arrived"], m["served"] + m["dropped"] + m["pending"])


def _obs_ok(obs: Any, space: Any) -> None:
    _finite(obs, "obs")
    assert space.contains(obs), "observation outside its space"


@given(cfg=configs(), seed=st.integers(0, 2**31 - 1), data=st.data())
@SETTINGS
def test_invariants_batched(cfg: dict[str, Any], seed: int, data: st.DataObject) -> None:
    p = build_params(cfg)
    action_mode = data.draw(st.sampled_from(["discrete", "continuous"]), label="action_mode")
    observation = data.draw(st.sampled_from(["flat", "graph"]), label="observation")
    B = 2
    eng = Engine(p, B, action_mode, observation)
    eng.reset(seeds=[seed, seed + 1])
    rng = np.random.default_rng(seed)
    n = p.num_actions
    for _ in range(100_000):
        assert eng.state is not None
        _check_state(eng.state, p)
        out = core.request_outcomes(eng.state, p)
        # the option outcomes are finite; stage times may be inf ("never": a link out)
        _finite({k: out[k] for k in OPTION_KEYS}, "request_outcomes")
        obs = eng.observe()
        for b in range(B):
            _obs_ok(
                obs[b] if not isinstance(obs, dict) else {k: v[b] for k, v in obs.items()},
                eng.observation_space,
            )
        _finite(eng.kpis(), "kpis")
        if action_mode == "discrete":
            mask = eng.action_masks()
            # mostly valid actions, sometimes any action (forbidden ones are counted)
            valid = np.argmax(np.where(mask, rng.random(mask.shape), -1.0), axis=1)
            anything = rng.integers(0, n, size=B)
            actions = np.where(rng.random(B) < 0.1, anything, valid)
        else:
            actions = rng.uniform(-1, 1, size=(B, n)).astype(np.float32)
        reward, _, info = eng.step(actions)
        _finite(reward, "reward")
        _finite(info, "info")
        if (eng.state.slot >= p.episode_slots).all():
            break
    assert (eng.state.slot == p.episode_slots).all()
    _check_state(eng.state, p)


@given(cfg=configs(), seed=st.integers(0, 2**31 - 1))
@SETTINGS
def test_invariants_scalar_env(cfg: dict[str, Any], seed: int) -> None:
    env = GainNetEnv(scenario=cfg, observation="graph" if seed % 2 else "flat")
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    total = 0.0
    while True:
        _obs_ok(obs, env.observation_space)
        _finite(info, "info")
        assert env.action_masks().any()
        obs, reward, terminated, truncated, info = env.step(
            int(rng.choice(np.flatnonzero(env.action_masks())))
        )
        assert not terminated
        assert np.isfinite(reward)
        total += reward
        if truncated:
            break
    _finite(info, "final info")
    _check_state(env.state, env.params)
    ep = info["episode_metrics"]
    assert ep["invalid_actions"] == 0
    assert ep["reward"] == pytest.approx(total, rel=1e-9, abs=1e-9)  # rewards add up
