"""GainNet-v1 (SYSTEM_MODEL sec. 12): regression tests for every v0 finding,
and the model's calibration identities.

- Every decided request is paid once, at its decision step: nothing is left
  unpaid at truncation, and the episode return is the sum of the decided
  requests' outcome rewards plus sensing/fine-tuning energy and penalties.
- The outcomes a decision sees are exact: what happens is what was shown.
- An aborted request holds every stage only until its deadline.
- The cloud is reachable only through an edge in range.
- Fine-tuning gets exactly its share of compute, billed once; device energy
  is kappa f^2 per cycle at the clock that sets its speed.
- A below-floor serve costs more than a reject.
- ``load`` is the offered load rho = lambda U sum_s share_s w_ref,s / (E C_e).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.envs import GainNetEnv, core
from gainnet_rl.envs import observation as obs_mod
from gainnet_rl.envs.config import load_scenario, make_params
from gainnet_rl.envs.models.reward import TERMS

SCENARIOS = ("small", "medium", "large", "medical", "vehicular")


def _play_books(env: GainNetEnv, policy, seed: int) -> dict:  # type: ignore[no-untyped-def]
    """Play an episode; keep, per request decision, the outcome of the chosen
    option as the env showed it before the step."""
    obs, info = env.reset(seed=seed)
    p = env.params
    rows = []
    ret = 0.0
    while True:
        action, _ = policy.predict(obs)
        dtype = info["decision_type"]
        out = {k: v[0] for k, v in env.engine.outcomes().items()}
        mask = env.action_masks()
        slot = int(env.state.slot[0])
        obs, r, term, trunc, info = env.step(action)
        assert not term
        ret += r
        if dtype == core.DECISION_REQUEST:
            a = int(action)
            a = a if mask[a] else p.num_options - 1  # a forbidden choice rejects
            rows.append(
                {
                    "reward": out["reward"][a],
                    "energy": out["energy_j"][a],
                    "cost": out["cost_usd"][a],
                    "served": not out["dropped"][a],
                    "met": out["met"][a],
                    "latency": out["latency_s"][a],
                    "slot": slot,
                    "reject": a == p.num_options - 1,
                    "step_reward": r,
                    "advanced": info["slots_advanced"],
                    "invalid": info["invalid"],
                }
            )
        if trunc:
            return {"rows": rows, "return": ret, "ep": info["episode_metrics"]}


@pytest.mark.parametrize(
    ("scenario", "overrides"),
    [("small", {}), ("large", {}), ("vehicular", {}), ("small", {"queue_overflow_prob": 0.3})],
    ids=["small", "large", "vehicular", "small-overflowing"],
)
@pytest.mark.parametrize("name", ["greedy_utility", "random", "cloud_only"])
def test_nothing_is_unpaid_at_truncation(scenario: str, overrides: dict, name: str) -> None:
    """The return is the sum over decided requests of the outcome rewards they
    were shown, plus the sensing and fine-tuning energy, minus invalid and
    overflow penalties; requests still in flight at the end were paid too."""
    env = GainNetEnv(scenario, load=1.5, overrides=overrides)
    _p, w = env.params, env.params.reward
    books = _play_books(env, HEURISTICS[name](env, seed=0), seed=11)
    ep, rows = books["ep"], books["rows"]
    decided = sum(r["reward"] for r in rows)
    decided_energy = sum(r["energy"] for r in rows)
    overhead_energy = ep["energy_j"] - decided_energy  # sensing uploads + fine-tuning
    assert overhead_energy >= -1e-9
    expected = (
        decided
        - w.w_energy * overhead_energy
        - w.w_invalid * ep["invalid_actions"]
        - w.w_drop * ep["overflow"]
    )
    assert books["return"] == pytest.approx(expected, abs=1e-7)
    assert ep["reward"] == pytest.approx(books["return"], abs=1e-9)
    assert sum(ep[f"reward_{t}"] for t in TERMS) == pytest.approx(books["return"], abs=1e-9)
    assert ep["pending"] > 0 or scenario == "small"  # in flight at the end, already paid
    assert ep["overflow"] > 0 or "queue_overflow_prob" not in overrides
    assert ep["cloud_cost_usd"] == pytest.approx(sum(r["cost"] for r in rows), abs=1e-12)


def test_each_request_is_credited_at_its_decision_step() -> None:
    """A request decision that does not advance time earns exactly its outcome
    reward (minus w_invalid if forbidden), not a later slot's."""
    env = GainNetEnv("medium", load=2.0)
    books = _play_books(env, HEURISTICS["greedy_utility"](env), seed=3)
    quiet = [r for r in books["rows"] if r["advanced"] == 0]
    assert len(quiet) > 5
    for r in quiet:
        pen = env.params.reward.w_invalid * r["invalid"]
        assert r["step_reward"] == pytest.approx(r["reward"] - pen, abs=1e-12)


@pytest.mark.parametrize("scenario", ["small", "vehicular"])
def test_outcomes_shown_are_what_happens(scenario: str) -> None:
    """Without scheduled events, the served/met counts and latency sums the env
    reports for the episode are exactly those of the outcomes shown at
    decision time, for the requests that finish within the episode."""
    env = GainNetEnv(scenario, load=1.5)
    p = env.params
    books = _play_books(env, HEURISTICS["greedy_utility"](env), seed=5)
    ep = books["ep"]
    served = met = latency = dropped = 0.0
    for r in books["rows"]:
        when = 0.0 if r["reject"] else r["latency"]
        if math.floor((r["slot"] * p.slot_s + when) / p.slot_s + 1e-9) >= p.episode_slots:
            continue  # pending at the end
        served += r["served"]
        dropped += not r["served"]
        met += r["met"]
        latency += r["latency"] * r["served"]
    assert ep["served"] == served
    assert ep["dropped"] == dropped + ep["overflow"]
    assert ep["deadline_met_ratio"] * (ep["served"] + ep["dropped"]) == pytest.approx(met)
    assert ep["mean_latency_s"] * ep["served"] == pytest.approx(latency, rel=1e-9)


@pytest.mark.parametrize(
    "overrides",
    [
        {"load": 4.0},
        {
            "load": 2.0,
            "events": [{"kind": "compute_cut", "edges": "all", "start_s": 5.0, "factor": 0.01}],
        },
    ],
    ids=["overload", "deep_compute_cut"],
)
def test_aborted_requests_are_charged_only_until_their_deadline(overrides: dict) -> None:
    """A request that misses its deadline holds every stage only until then:
    its energy never exceeds full power over its deadline, and no reward is
    below what that bounds (v0 charged one request -58,084)."""
    env = GainNetEnv("small", overrides=overrides)
    p, w = env.params, env.params.reward
    policy = HEURISTICS["random"](env, seed=1)
    obs, info = env.reset(seed=2)
    worst_power = p.channel.device_tx_w + p.edge_power_w + p.device_power_w
    n_aborted = 0
    latest_deadline = 0.0  # of the requests decided so far
    while True:
        if info["decision_type"] == core.DECISION_REQUEST:
            out = {k: v[0] for k, v in env.engine.outcomes().items()}
            d = out["deadline_s"]
            valid = out["valid"]
            assert (out["energy_j"][valid] <= worst_power * d + 1e-9).all()
            max_cost = p.cloud_usd_fixed.max() + (p.cloud_usd_in + p.cloud_usd_out).max() * 1e5
            bound = w.w_drop + w.w_latency * d + w.w_energy * worst_power * d
            bound += w.w_cloud_cost * max_cost
            assert (out["reward"][valid] >= -bound).all()
            n_aborted += int((out["dropped"] & valid)[:-1].sum())
            latest_deadline = max(latest_deadline, float(out["t_deadline_s"]))
        action, _ = policy.predict(obs)
        obs, _, _, trunc, info = env.step(action)
        if not trunc:
            s = env.state  # nothing a decided request holds goes past its deadline
            for arr in (s.ul_free_s, s.dl_free_s, s.st_free_s, s.cloud_free_s, s.device_free_s):
                assert arr.max() <= latest_deadline + 1e-9
        if trunc:
            break
    assert n_aborted > 0


def test_held_resources_end_by_the_deadline_exactly() -> None:
    """Book a hopeless request on an edge: its sub-band, stream and downlink
    are released at its deadline, not at its would-be completion."""
    env = GainNetEnv("small", load=2.0, overrides={"network.edge_speed": 0.02})
    env.reset(seed=0)
    p = env.params
    for _ in range(10_000):
        if core.decision_type(env.state, p)[0] == core.DECISION_REQUEST:
            out = {k: v[0] for k, v in env.engine.outcomes().items()}
            ok = out["valid"][1 : 1 + p.num_edges] & out["dropped"][1 : 1 + p.num_edges]
            late = np.flatnonzero(ok & (out["comp_start_s"] < out["t_deadline_s"]))
            if late.size:
                e = int(late[0])
                assert out["comp_end_s"][e] > out["t_deadline_s"]
                env.step(1 + e)
                s = env.state
                j = out["stream"][e]
                assert s.st_free_s[0, e, j] == pytest.approx(out["t_deadline_s"])
                return
        env.step(int(np.flatnonzero(env.action_masks())[-1]))
    raise AssertionError("no late edge request found")


def test_cloud_is_masked_without_an_edge_in_range() -> None:
    """Devices scattered over 20 km x 20 km around two edges: where a device's
    associated edge is out of range, no edge and no cloud are valid."""
    env = GainNetEnv(
        "small",
        load=2.0,
        overrides={
            "area_m": [20000.0, 20000.0],
            "mobility._target_": ("gainnet_rl.envs.models.mobility.Static"),
        },
    )
    _, info = env.reset(seed=0)
    p = env.params
    cloud = p.num_options - 2
    out_of_range = in_range = 0
    while True:
        if info["decision_type"] == core.DECISION_REQUEST:
            out = {k: v[0] for k, v in env.engine.outcomes().items()}
            mask = env.action_masks()
            reach = bool(out["in_range"][out["assoc"]])
            if not reach:
                out_of_range += 1
                assert not mask[cloud]
                assert not mask[1 : 1 + p.num_edges].any()
            else:
                in_range += 1
        _obs, _, _, trunc, info = env.step(int(np.flatnonzero(env.action_masks())[-1]))
        if trunc:
            break
    assert out_of_range > 5 and in_range > 0


def test_finetuning_gets_exactly_its_share_billed_once() -> None:
    """With fine-tuning share phi: (1) a lone request runs 1 / (1 - phi) slower;
    (2) knowledge grows per frame by exactly phi eta F_peak K dt / (6 N_held)
    when data is plentiful; (3) with no requests and no sensing, the energy is
    exactly the fine-tuning power, P phi per second per edge."""
    ov = {
        "load": 0.0,
        "sensing.rate_bps": 1e8,
        "sensing.buffer_bits": 1e9,
        "sensing.tokens_per_mbit": 1e6,
        "sensing.knowledge_decay": 1.0,
        "plans.sensing_levels": [0.0, 0.5],
        "plans.finetune_levels": [0.0, 0.2],
    }
    env = GainNetEnv("small", overrides=ov)
    env.reset(seed=0)
    p = env.params
    phi = p.plan_finetune[p.default_plan]
    assert phi == 0.2
    k0 = env.state.knowledge[0].copy()
    for _ in range(p.num_edges):
        env.step(p.default_plan)  # frame 0's plans; load 0: time advances to frame 1
    assert env.state.slot[0] == p.frame_slots
    n_held = p.plan_ft_params_b[p.default_plan] * 1e9
    cap = phi * p.finetune_efficiency * p.edge_peak_flops * p.frame_slots * p.slot_s / (6 * n_held)
    np.testing.assert_allclose(env.state.knowledge[0] - k0, cap, rtol=1e-12)

    # (3) energy: fine-tuning's power P phi for the frames it works, billed once:
    # the same episode with fine-tuning off differs by exactly that (no requests)
    def energy(ft_levels: list[float]) -> float:
        e = GainNetEnv("small", overrides={**ov, "plans.finetune_levels": ft_levels})
        e.reset(seed=0)
        while True:
            _, _, _, trunc, info = e.step(e.params.default_plan)
            if trunc:
                return info["episode_metrics"]["energy_j"]

    frames = (p.episode_slots - 1) // p.frame_slots  # knowledge updates at frames 1..T/K-1
    want = p.edge_power_w * phi * p.num_edges * frames * p.frame_slots * p.slot_s
    assert energy([0.0, 0.2]) - energy([0.0, 0.0]) == pytest.approx(want, rel=1e-9)
    # (1) a lone text request on an idle edge: batch-1 time / (1 - phi)
    env3 = GainNetEnv("small", load=0.5)
    env3.reset(seed=4)
    p3 = env3.params
    for _ in range(10_000):
        if core.decision_type(env3.state, p3)[0] == core.DECISION_REQUEST:
            out = {k: v[0] for k, v in env3.engine.outcomes().items()}
            s = int(out["service"])
            idle = out["n_batch"] == 1
            if idle[0]:
                r = int(env3.state.req_ptr[0])
                tier = int(env3.state.edge_tier[0, 0, s])
                t1 = (
                    p3.tier_fixed_s[s, tier]
                    + p3.tier_in_s[s, tier] * env3.state.q_in_tokens[0, r]
                    + p3.tier_out_s[s, tier] * env3.state.q_out_tokens[0, r]
                )
                assert out["work_edge_s"][0] == pytest.approx(t1 / (1 - phi), rel=1e-12)
                return
        env3.step(int(np.flatnonzero(env3.action_masks())[-1]))
    raise AssertionError("no lone request found")


def test_device_energy_is_kappa_f2_per_cycle_at_the_speed_clock() -> None:
    """Local compute: prefill at f x FLOPs/cycle (2 N FLOPs a token), decode
    the slower of that and reading the weights once a token; energy kappa f^2
    per cycle over the cycles of that time, at the same clock f."""
    cfg = load_scenario("small")["network"]
    f, fpc, kappa = cfg["device_cpu_hz"], cfg["device_flops_per_cycle"], cfg["device_kappa"]
    bw = cfg["device_memory_gbps"]
    env = GainNetEnv("small", load=1.0)
    env.reset(seed=1)
    p = env.params
    checked = 0
    for _ in range(10_000):
        if core.decision_type(env.state, p)[0] == core.DECISION_REQUEST:
            out = {k: v[0] for k, v in env.engine.outcomes().items()}
            r = int(env.state.req_ptr[0])
            s = int(out["service"])
            if out["valid"][0] and not out["dropped"][0]:
                tier = p.device_tier[s]
                per_token = 2 * p.tier_params_b[s, tier] * 1e9 / (f * fpc)
                decode = max(per_token, p.tier_memory_gb[s, tier] / bw)
                want_s = (
                    env.state.q_in_tokens[0, r] * per_token + env.state.q_out_tokens[0, r] * decode
                )
                compute_s = out["local_end_s"] - out["local_start_s"]
                assert compute_s == pytest.approx(want_s, rel=1e-12)
                cycles = compute_s * f
                assert out["energy_j"][0] == pytest.approx(kappa * f**2 * cycles, rel=1e-12)
                checked += 1
        env.step(int(np.flatnonzero(env.action_masks())[0]))
        if env.state.slot[0] >= p.episode_slots or checked >= 5:
            break
    assert checked >= 1


def test_a_below_floor_serve_costs_more_than_a_reject() -> None:
    env = GainNetEnv("small", load=1.0)
    obs, info = env.reset(seed=0)
    missed = 0
    policy = HEURISTICS["random"](env, seed=0)
    while True:
        if info["decision_type"] == core.DECISION_REQUEST:
            out = {k: v[0] for k, v in env.engine.outcomes().items()}
            m = out["missed"] & out["valid"]
            assert (out["reward"][m] < out["reward"][-1]).all()
            missed += int(m.sum())
        obs, _, _, trunc, info = env.step(policy.predict(obs)[0])
        if trunc:
            break
    assert missed > 0


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("load", [0.5, 1.0, 2.0])
def test_load_is_the_offered_load_relative_to_edge_capacity(scenario: str, load: float) -> None:
    """rho = lambda U sum_s share_s w_ref,s / (E C_e) = offered_load_at_load1 x load,
    with w_ref recomputed here from the YAML's model rows: a mean request at its
    default-plan tier at B_ref streams, on the inference share (1 - phi) the
    default plan's fine-tuning leaves."""
    cfg = load_scenario(scenario)
    p = make_params(scenario, load)
    net, models = cfg["network"], cfg["models"]
    b_ref = net["reference_batch"]
    levels = cfg["plans"]["finetune_levels"]
    phi = levels[len(levels) // 2]  # the default plan's: the middle level
    shares = np.array([sc["share"] for sc in cfg["services"].values()], dtype=float)
    shares /= shares.sum()
    w = []
    for i, sc in enumerate(cfg["services"].values()):
        tier = ("small", "medium", "large")[p.ref_tier[i]]
        row = models[sc["tiers"][tier]["model"]]
        if sc["kind"] == "image":
            t1 = sc["tiers"][tier]["steps"] * row["s_per_step_b1"]
            beta = row["batch_beta"]
        else:
            n_in = sum(sc["in_tokens"]) / 2 + sc.get("visual_tokens", 0)
            n_out = sum(sc["out_tokens"]) / 2
            t1 = n_in / row["prefill_tok_s"] + n_out / row["decode_tok_s_b1"]
            beta = (8 * row["decode_tok_s_b1"] / row["decode_tok_s_b8"] - 1) / 7
        w.append(t1 / net["edge_speed"] * (1 + beta * (b_ref - 1)) / (1 - phi))
    lam = p.arrival_rate_hz * load
    rho = lam * cfg["num_devices"] * float(np.dot(shares, w)) / (cfg["num_edges"] * b_ref)
    assert rho == pytest.approx(cfg["offered_load_at_load1"] * load, rel=1e-12)
    assert p.offered_load_check() == pytest.approx(rho, rel=1e-12)


def test_same_load_means_the_same_per_edge_traffic_at_every_size() -> None:
    rates = [
        make_params(s).arrival_rate_hz * make_params(s).num_devices / make_params(s).num_edges
        for s in ("small", "medium", "large")
    ]
    np.testing.assert_allclose(rates, rates[0], rtol=1e-12)


def test_kv_cache_per_token_from_the_model_configs() -> None:
    """FP16 KV per token: Qwen3-0.6B 112 KiB, Qwen3-4B 144 KiB, Llama-3.1-8B 128 KiB."""
    p = make_params("small")
    s = p.service_names.index("text")
    np.testing.assert_allclose(
        p.tier_kv_per_token_gb[s] * 1e9 / 1024, [112.0, 144.0, 128.0], rtol=1e-12
    )


def test_batching_reproduces_the_benchmark_rows() -> None:
    """r(B) = r1 / (1 + beta (B - 1)): aggregate 8 r(8) is the batch-8 row."""
    cfg = load_scenario("small")
    p = make_params("small")
    s = p.service_names.index("text")
    for m, tier in enumerate(("small", "medium", "large")):
        row = cfg["models"][cfg["services"]["text"]["tiers"][tier]["model"]]
        r1 = 1.0 / p.tier_out_s[s, m]
        assert r1 == pytest.approx(row["decode_tok_s_b1"], rel=1e-12)
        r8 = r1 / (1 + p.tier_beta[s, m] * 7)
        assert 8 * r8 == pytest.approx(row["decode_tok_s_b8"], rel=1e-12)


def test_a_larger_tier_costs_streams() -> None:
    """With memory for few streams, a plan holding the 8B text tier leaves less
    KV budget (fewer concurrent summaries) than one holding the 0.6B tier."""
    p = make_params("small", overrides={"network.edge_memory_gb": 10.0})
    s = p.service_names.index("text")
    longest = p.in_tokens_hi[s] + p.out_tokens_hi[s]
    streams = {}
    for m in range(3):
        plans = np.flatnonzero(
            (p.plan_tiers[:, s] == m) & (p.plan_tiers.sum(axis=1) == m - 2) & (p.plan_finetune == 0)
        )
        budget = p.plan_kv_budget_gb[plans].max()
        streams[m] = math.floor(budget / (p.tier_kv_per_token_gb[s, m] * longest))
    assert streams[0] > streams[1] > 0 and streams[0] > streams[2] > 0


def test_step_info_carries_the_simulated_seconds() -> None:
    env = GainNetEnv("small")
    env.reset(seed=0)
    total = 0.0
    while True:
        _, _, _, trunc, info = env.step(int(np.flatnonzero(env.action_masks())[-1]))
        assert info["dt_s"] == pytest.approx(info["slots_advanced"] * env.params.slot_s)
        total += info["dt_s"]
        if trunc:
            break
    assert total == pytest.approx(env.params.episode_slots * env.params.slot_s)


def test_option_outcomes_switch() -> None:
    """option_outcomes=False drops the outcome features, keeps validity."""
    on = GainNetEnv("small")
    off = GainNetEnv("small", option_outcomes=False)
    p = on.params
    O = p.num_options
    lay_on, lay_off = obs_mod.layout(p, True), obs_mod.layout(p, False)
    assert lay_on.size - lay_off.size == O * (len(obs_mod.OPTION_FEATURES) - 1)
    assert off.observation_space.shape == (lay_off.size,)
    o_on, _ = on.reset(seed=3)
    o_off, _ = off.reset(seed=3)
    for _ in range(200):
        a = int(np.flatnonzero(on.action_masks())[-1])
        o_on, r_on, _, t, _ = on.step(a)
        o_off, r_off, _, _, _ = off.step(a)
        assert r_on == r_off  # same dynamics
        s0, e0 = lay_on.offsets["options"]
        s1, e1 = lay_off.offsets["options"]
        np.testing.assert_array_equal(o_on[s0:e0].reshape(O, -1)[:, 0], o_off[s1:e1])
        np.testing.assert_array_equal(o_on[:s0], o_off[:s1])
        if t:
            break
