"""GainNet-v2's demand (SYSTEM_MODEL sec. 13): traffic with the traces' shape,
the offered load kept, the demand history observed, v1 still reproducible.

The shape tests drive :class:`GaiTrafficArrivals` for one client (one edge,
one service) at the rate of the trace its class was fitted to (Azure LLM
inference trace 2023: conversation 5.53 req/s, code 2.57 req/s) and compare
the index of dispersion of counts (IDC = variance / mean of the counts in a
window) at 0.1 s, 1 s and 10 s, pooled over 60 s episodes, with sec. 13.1's
figures, within the tolerances below (docs/model.md, "Demand", gives the
measured values).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import gainnet_rl  # noqa: F401  (registers the ids)
from gainnet_rl.agents.baselines import (
    ADAPTIVE_SEARCH_SEEDS,
    HEURISTICS,
    FixedPlanGreedy,
    adaptive_plan_table,
    best_fixed_plans,
)
from gainnet_rl.envs import core, rng
from gainnet_rl.envs.config import ConfigError, load_scenario, make_params
from gainnet_rl.envs.engine import Engine
from gainnet_rl.envs.gainnet_env import GainNetEnv
from gainnet_rl.envs.models.arrivals import (
    ArrivalContext,
    GaiTrafficArrivals,
    PoissonArrivals,
    truncated_geometric,
)
from gainnet_rl.envs.observation import layout
from gainnet_rl.envs.vector_env import GainNetVectorEnv
from gainnet_rl.evaluation.rollout import evaluate

SLOT_S = 0.1
#: sec. 13.1: IDC at 0.1 s, 1 s, 10 s of the traces, and the tolerance (relative) the
#: model meets (measured over 2,000 episodes, with the estimate's spread): human 1.03,
#: 1.35, 4.5 against 1.06, 1.39, 3.9 (the per-episode factor is a touch wider at 10 s);
#: machine 3.4, 13.2-14.4, 74-85 against 2.5, 13, 72 (at 0.1 s the model is burstier:
#: a group's requests share one slot, and bursts start at full height)
TRACE = {
    "human": (5.53, (1.06, 1.39, 3.9), (0.10, 0.10, 0.25)),
    "machine": (2.57, (2.5, 13.0, 72.0), (0.40, 0.15, 0.25)),
}


def _model() -> GaiTrafficArrivals:
    """The packaged model (conf/arrivals/gai_traffic.yaml)."""
    cfg = load_scenario("small")["arrivals"]
    return GaiTrafficArrivals(**{k: v for k, v in cfg.items() if k != "_target_"})


def _client(model, cls: str, rate_hz: float, episodes: int, slots: int, seed: int = 0):
    """Counts (slots, episodes) and ON states of one client of class ``cls``."""
    model.bind(ArrivalContext(SLOT_S, 1, 1, ("x",), np.array([1.0]), (cls,)))
    keys = rng.mix64(np.arange(episodes, dtype=np.uint64) + np.uint64(7_777 + 10_000_000 * seed))
    state = model.init_state(keys, 1)
    rows, assoc = np.arange(episodes), np.zeros((episodes, 1), np.int64)
    counts = np.zeros((slots, episodes), np.int64)
    on = np.zeros((slots, episodes), bool)
    c = np.zeros((episodes, 1, 1), np.int64)  # one device, one service
    for t in range(slots):
        model.sample_rows(state, keys, np.full(episodes, t), rows, rate_hz * SLOT_S, c, assoc)
        counts[t] = c[:, 0, 0]
        if "on" in state:
            on[t] = state["on"][:, 0, 0]
    return counts, on


def idc(counts: np.ndarray, window: int) -> float:
    """IDC of the counts in windows of ``window`` slots, within each episode (column)."""
    n = counts.shape[0] // window
    x = counts[: n * window].reshape(n, window, -1).sum(axis=1)
    return float(x.var() / x.mean())


@pytest.mark.parametrize("cls", ["human", "machine"])
def test_traffic_has_the_traces_shape(cls: str) -> None:
    rate, target, tol = TRACE[cls]
    counts, _ = _client(_model(), cls, rate, episodes=2000, slots=600)
    assert counts.mean() / SLOT_S == pytest.approx(rate, rel=0.06)
    got = [idc(counts, w) for w in (1, 10, 100)]
    for g, t, r, w in zip(got, target, tol, ("0.1 s", "1 s", "10 s"), strict=True):
        assert abs(g - t) <= r * t, f"{cls}: IDC at {w} is {g:.2f}, trace {t} (± {r:.0%})"


def test_poisson_traffic_fails_the_machine_shape() -> None:
    """The shape test can fail: Poisson at the code trace's rate has IDC 1 at every scale."""
    counts, _ = _client(PoissonArrivals(), "machine", 2.57, episodes=300, slots=600)
    got = [idc(counts, w) for w in (1, 10, 100)]
    assert all(abs(g - 1.0) < 0.15 for g in got), got
    target, tol = TRACE["machine"][1], TRACE["machine"][2]
    assert all(abs(g - t) > r * t for g, t, r in zip(got, target, tol, strict=True))


def test_on_sojourns_and_share() -> None:
    """Mean ON sojourn 7.6 s, ON 26% of the time (sec. 13.1), from the stationary law."""
    model = _model()
    _, on = _client(model, "machine", 2.57, episodes=60, slots=20_000, seed=1)
    assert on[0].mean() == pytest.approx(model.pi_on, abs=0.15)  # stationary start
    assert on.mean() == pytest.approx(0.26, abs=0.02)
    runs = []
    for col in on.T:
        d = np.diff(np.r_[0, col.astype(np.int64), 0])
        start, end = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        keep = (start > 0) & (end < col.size)  # whole sojourns only
        runs.extend((end - start)[keep])
    assert np.mean(runs) * SLOT_S == pytest.approx(7.6, rel=0.05)


def test_group_sizes() -> None:
    pmf = truncated_geometric(1.6, 6)
    assert pmf.size == 6 and pmf.sum() == pytest.approx(1.0)
    assert float(np.dot(pmf, np.arange(1, 7))) == pytest.approx(1.6, rel=1e-9)
    assert np.all(np.diff(pmf) < 0)
    assert truncated_geometric(1.0, 6)[0] == 1.0


@pytest.mark.parametrize("scenario", ["small", "large", "medical", "vehicular"])
def test_long_run_mean_is_the_offered_load(scenario: str) -> None:
    """Per device, slot and service, the model's mean is the one ``load`` asks
    for (share_s x arrival_rate_per_slot), at every size: within 4 standard
    errors of the per-episode means."""
    for load in (1.0, 2.0):
        p = make_params(scenario, load=load)
        B, T, U, S = 64, 600, p.num_devices, p.num_services
        keys = rng.mix64(np.arange(B, dtype=np.uint64) + np.uint64(99))
        state = p.arrivals.init_state(keys, U)
        assoc = np.random.default_rng(0).integers(0, p.num_edges, size=(B, U))
        rows = np.arange(B)
        c = np.zeros((B, U, S), np.int64)
        total = np.zeros((B, S))
        for t in range(T):
            p.arrivals.sample_rows(
                state, keys, np.full(B, t), rows, p.arrival_rate_per_slot, c, assoc
            )
            total += c.sum(axis=1)
        per = total / (T * U)  # (B, S) mean requests per device and slot
        want = p.arrival_rate_per_slot * p.service_share
        se = per.std(axis=0, ddof=1) / np.sqrt(B)
        assert np.all(np.abs(per.mean(axis=0) - want) < 4 * se + 1e-12), (load, per.mean(0), want)


def test_env_arrivals_match_the_rate() -> None:
    """Through the env: requests drawn per episode ~ lambda U T (30 episodes, 4 SE)."""
    p = make_params("small")
    res = evaluate(lambda env: HEURISTICS["nearest_edge"](env), p, list(range(2000, 2030)))
    want = p.arrival_rate_hz * p.load * p.num_devices * p.episode_slots * p.slot_s
    got = res["arrived"]
    assert abs(got.mean() - want) < 4 * got.std(ddof=1) / np.sqrt(got.size)
    # conservation: every request that arrived is served, dropped or pending
    np.testing.assert_array_equal(got, res["served"] + res["dropped"] + res["pending"])


def test_same_seed_same_arrivals_and_scalar_batched_replay() -> None:
    """Same seed, same arrivals; sub-env i of the batched env replays the
    scalar env seeded with seed + i (arrivals, demand history, hidden states)."""
    p = make_params("small")
    vec = GainNetVectorEnv(3, params=p)
    vec.reset(seed=40)
    scalars = [GainNetEnv(params=p) for _ in range(3)]
    for i, env in enumerate(scalars):
        env.reset(seed=40 + i)
    for _ in range(120):  # within the first episode
        mask = vec.action_masks()
        act = np.argmax(mask, axis=1)
        vec.step(act)
        for i, env in enumerate(scalars):
            env.step(int(act[i]))
    for i, env in enumerate(scalars):
        a, b = env.engine.state, vec.engine.state
        col = core.EP_FIELDS.index("arrived")
        assert a.ep_totals[0, col] == b.ep_totals[i, col]
        np.testing.assert_array_equal(a.demand_hz[0], b.demand_hz[i])
        np.testing.assert_array_equal(a.arrivals["on"][0], b.arrivals["on"][i])
        np.testing.assert_array_equal(a.arrivals["level"][0], b.arrivals["level"][i])
    other = GainNetVectorEnv(3, params=p)
    other.reset(seed=41)
    assert not np.array_equal(other.engine.state.arrivals["on"], vec.engine.state.arrivals["on"])


def test_observation_shows_the_demand_history_not_the_hidden_state() -> None:
    p = make_params("small")
    lay = layout(p)
    names = [f for f in lay.edge_features if f.startswith("demand_")]
    assert len(names) == p.num_services * len(p.demand_horizons_s) == 9
    eng = Engine(p, 2)
    eng.reset([5, 6])
    for _ in range(150):
        eng.step(np.argmax(eng.action_masks(), axis=1))
    obs = eng.observe()
    lo, hi = lay.offsets["edges"]
    edges = obs[:, lo:hi].reshape(2, *lay.shapes["edges"])
    col = list(lay.edge_features).index(names[0])
    H = len(p.demand_horizons_s)
    want = eng.state.demand_hz[:, :, 0, 0] / p.demand_ref_hz[0]
    np.testing.assert_allclose(edges[:, : p.num_edges, col], want, rtol=1e-6)
    assert np.all(edges[:, p.num_edges :, col : col + p.num_services * H] == 0)  # padding
    # the hidden ON/OFF states and burst levels do not enter the observation
    eng.state.arrivals["on"] ^= True
    eng.state.arrivals["level"] *= 3.0
    eng.state.arrivals["factor"] *= 2.0
    np.testing.assert_array_equal(eng.observe(), obs)
    # the graph encoding carries the same columns on its edge nodes
    graph = GainNetEnv(params=p, observation="graph")
    g, _ = graph.reset(seed=5)
    assert g["nodes"].shape[1] == 3 + len(lay.edge_features)


def test_versions() -> None:
    v1, v2 = gym.make("gainnet_rl/GainNet-v1"), gym.make("gainnet_rl/GainNet-v2")
    p1, p2 = v1.unwrapped.params, v2.unwrapped.params
    assert isinstance(p1.arrivals, PoissonArrivals) and p1.episode_slots == 200
    assert p1.demand_horizons_s == () and v1.observation_space.shape == (240,)
    assert isinstance(p2.arrivals, GaiTrafficArrivals) and p2.episode_slots == 600
    assert v2.observation_space.shape == (240 + 8 * 9,)
    assert p1.arrival_rate_hz == p2.arrival_rate_hz  # the same load, the same mean rate
    for size in ("small", "medium", "large"):
        assert gym.make(f"gainnet_rl/GainNet-{size}-v1").unwrapped.params.episode_slots == 200
        assert gym.make(f"gainnet_rl/GainNet-{size}-v2").unwrapped.params.name == size
    mix = gym.make("gainnet_rl/GainNet-mix-v1")
    assert mix.unwrapped.envs[0].params.episode_slots == 200
    with pytest.raises(ConfigError, match=r"version=3 is invalid: must be one of \[1, 2\]"):
        make_params("small", version=3)
    with pytest.raises(ConfigError, match="version=1 is invalid with this config mapping"):
        make_params(load_scenario("small"), version=1)
    # a mapping of v1's demand goes with the v1 ids
    v1_cfg = load_scenario("small", version=1)
    assert gym.make("gainnet_rl/GainNet-v1", scenario=v1_cfg).unwrapped.params.version == 1


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"services.vision.arrival": "robot"}, r"services\.vision\.arrival='robot' is invalid"),
        ({"services.vision.arrival": None}, r"services\.vision\.arrival=None is invalid"),
        ({"arrivals.machine_group_mean": 4.0}, r"arrivals\.machine_group_mean=4\.0 is invalid"),
        ({"arrivals.machine_on_mean_s": 0.01}, r"arrivals\.machine_on_mean_s=0\.01 is invalid"),
        ({"arrivals.human_rate_cv": -1}, r"arrivals\.human_rate_cv=-1 is invalid"),
        ({"demand_horizons_s": [0.01]}, r"demand_horizons_s\[0\]"),
    ],
)
def test_bad_demand_config_is_refused_by_name(overrides, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        make_params("small", overrides=overrides)


def test_adaptive_plan() -> None:
    """adaptive_plan's table never does worse than greedy_best_plan's plans on
    its own search seeds (coordinate ascent from them), reads the demand
    history, and is greedy_best_plan where there is none (v1)."""
    p = make_params("small")
    table = adaptive_plan_table(p)
    fixed = best_fixed_plans(p)
    assert table.shape == (4, p.num_edges) and p.plan_allowed[table].all()
    seeds = list(ADAPTIVE_SEARCH_SEEDS)
    base = evaluate(lambda env: FixedPlanGreedy(env, plans=fixed), p, seeds)["reward"].mean()
    got = evaluate(lambda env: HEURISTICS["adaptive_plan"](env), p, seeds)["reward"].mean()
    assert got >= base - 1e-9
    p1 = make_params("small", version=1)
    np.testing.assert_array_equal(adaptive_plan_table(p1), best_fixed_plans(p1)[None])
