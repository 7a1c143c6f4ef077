"""Bad input: invalid configs are rejected when the env is built, with a
ConfigError (a ValueError) naming the field, its value and the allowed range
(never a numpy traceback, never silent clipping); invalid actions raise a
clear ValueError; an action the mask forbids is accepted, counted and
penalised by reward.w_invalid."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import yaml

import gainnet_rl  # noqa: F401  (registers the ids)
from gainnet_rl.envs import GainNetEnv, core
from gainnet_rl.envs.config import ConfigError, compose, conf_dir, load_scenario

ENV_ID = "gainnet_rl/GainNet-v2"
NAN = float("nan")


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


# (override key, bad value, substrings the message must contain besides key and value)
BAD_OVERRIDES = [
    ("num_edges", 0, [">= 1"]),
    ("num_edges", -3, [">= 1"]),
    ("num_edges", 2.5, ["integer"]),
    ("num_devices", 0, [">= 1"]),
    ("num_devices", -10, [">= 1"]),
    ("network.ul_bandwidth_hz", 0, ["> 0"]),
    ("network.ul_bandwidth_hz", -1e6, ["> 0"]),
    ("network.dl_time_share", 1.5, ["<= 1"]),
    ("network.backhaul_background_bps", 2e9, ["< network.backhaul_bps"]),
    ("load", -0.5, [">= 0"]),
    ("network.edge_memory_gb", 1.0, [">=", "GB", "default plan"]),
    ("services.text.device_tier", "huge", ["tier", "small"]),
    ("services.image.device_tier", "large", ["null", "small", "medium"]),
    ("services.vision.edge_tiers", ["small", "large"], ["tier of the service"]),
    ("services.text.edge_tiers", "small", ["a list of tier names"]),
    # found by the v1 probes (issue 10, item 7): NaN anywhere numeric ...
    ("channel.noise_dbm_per_hz", NAN, ["finite"]),
    ("channel.device_tx_dbm", NAN, ["finite"]),
    ("channel.ul_sinr_min_db", NAN, ["finite"]),
    ("services.text.tiers.small.quality", NAN, ["finite"]),
    ("services.image.quality_vs_steps", [[1, 0.2], [4, NAN]], ["finite"]),
    # ... values that overflow, non-numeric levels, quality above 1
    ("channel.device_tx_dbm", 1e6, ["[-40.0, 40.0]"]),
    ("channel.bs_tx_dbm", 1e6, ["[-40.0, 70.0]"]),
    ("plans.finetune_levels", ["abc", 0.2], ["finite number"]),
    ("plans.sensing_levels", [0.0, 1.5], ["<= 0.99"]),
    ("services.text.finetune_gain", 0.7, ["quality may not exceed 1"]),
    ("services.image.quality_vs_steps", [[1, 0.2], [4, 1.5]], ["quality in [0, 1]"]),
    ("services.text.min_quality", [0.3, 1.2], ["<= 1"]),
    ("channel.min_distance_m", 0, ["> 0"]),
    ("queue_overflow_prob", 0.0, ["> 0"]),
    ("models.qwen3_4b_int4.decode_tok_s_b8", 1e4, ["<= 8 x decode_tok_s_b1"]),
    ("services.text.tiers.small.model", "gpt-9", ["llm row of models"]),
    ("mobility.max_speed_mps", "fast", ["finite number"]),
]


def _check_message(exc: BaseException, field: str, value: object, allowed: list[str]) -> None:
    msg = str(exc)
    assert field in msg, msg
    assert str(value) in msg, msg
    for part in allowed:
        assert part in msg, msg


@pytest.mark.parametrize(("key", "value", "allowed"), BAD_OVERRIDES)
@pytest.mark.parametrize("build", ["gym.make", "GainNetEnv"])
def test_invalid_config_is_rejected_at_build(key, value, allowed, build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        if build == "gym.make":
            gym.make(ENV_ID, scenario="small", overrides={key: value})
        else:
            GainNetEnv(scenario="small", overrides={key: value})
    _check_message(info.value, key, value if not isinstance(value, list) else "", allowed)


@pytest.mark.parametrize("scenario", ["medium", "large", "medical", "vehicular"])
def test_invalid_config_is_rejected_for_every_scenario(scenario: str) -> None:
    with pytest.raises(ConfigError) as info:
        gym.make(ENV_ID, scenario=scenario, overrides={"network.ul_bandwidth_hz": 0})
    _check_message(info.value, "network.ul_bandwidth_hz", 0, ["> 0"])


def test_negative_load_argument_is_rejected() -> None:
    with pytest.raises(ConfigError) as info:
        gym.make(ENV_ID, load=-1.0)
    _check_message(info.value, "load", -1.0, [">= 0"])


def test_scenario_file_names_only_what_differs() -> None:
    """The case-study scenarios are defaults lists plus overrides: the service
    catalogs, channels, mobility models and model rows come from config groups."""
    medical = yaml.safe_load((conf_dir() / "scenario" / "medical.yaml").read_text())
    assert "services" not in medical and "models" not in medical and "channel" not in medical
    cfg = load_scenario("medical")
    assert list(cfg["services"]) == ["summarization", "radiology"]
    assert cfg["mobility"]["_target_"].endswith("Static")
    assert cfg["reward"] == load_scenario("small")["reward"]  # from scenario_base.yaml


def test_unknown_group_option_in_hydra_overrides() -> None:
    with pytest.raises(ConfigError) as info:
        compose("env", ["scenario=medical", "services@scenario.services=nope"])
    _check_message(info.value, "services@scenario.services", "nope", ["default", "vehicular"])
    cfg = compose("env", ["scenario=small", "services@scenario.services=medical"])
    assert list(cfg.scenario.services) == ["summarization", "radiology"]
    with pytest.raises(ConfigError) as info:
        compose("env", ["scenario=tiny"])
    _check_message(info.value, "scenario", "tiny", ["small", "medical"])


def test_hydra_override_of_a_scenario_value() -> None:
    cfg = compose("env", ["scenario=vehicular", "scenario.network.backhaul_bps=2e8"])
    assert cfg.scenario.network.backhaul_bps == 2e8
    with pytest.raises(ConfigError) as info:
        compose("env", ["scenario.network.backhaul=1"])
    assert "backhaul" in str(info.value)


def test_unknown_scenario_name() -> None:
    with pytest.raises(ConfigError) as info:
        gym.make(ENV_ID, scenario="huge")
    _check_message(info.value, "scenario", "huge", ["small", "medium", "large"])


def test_unknown_config_key_names_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        GainNetEnv(scenario="small", overrides={"network.edge_bandwith_hz": 1e6})
    _check_message(info.value, "edge_bandwith_hz", "1000000.0", ["ul_bandwidth_hz"])


@pytest.mark.parametrize(
    ("arg", "value", "allowed"),
    [
        ("action_mode", "multi", ["discrete", "continuous"]),
        ("observation", "image", ["flat", "graph"]),
        ("option_outcomes", "yes", ["true or false"]),
    ],
)
def test_unknown_env_argument_value(arg: str, value: str, allowed: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        gym.make(ENV_ID, **{arg: value})
    _check_message(info.value, arg, value, allowed)


def test_shipped_reward_defaults_are_the_yaml_values() -> None:
    """Model classes have no defaults of their own: the YAML is the one source."""
    from gainnet_rl.envs.models import LinearReward, UMaChannel

    with pytest.raises(TypeError):
        LinearReward()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        UMaChannel()  # type: ignore[call-arg]
    env = GainNetEnv(scenario="small")
    cfg = load_scenario("small")["reward"]
    assert env.params.reward.w_cloud_cost == cfg["w_cloud_cost"]
    assert env.params.reward.w_miss == cfg["w_drop"]  # w_miss: null means w_drop


# ------------------------------------------------------------------ invalid actions


def _env_at_request(action_mode: str = "discrete", seed: int = 0, **kw) -> GainNetEnv:  # type: ignore[no-untyped-def]
    """A small env stepped with the default plan up to its first request decision."""
    env = GainNetEnv(scenario="small", load=2.0, action_mode=action_mode, **kw)
    env.reset(seed=seed)
    p = env.params
    while core.decision_type(env.state, p)[0] != core.DECISION_REQUEST:
        if action_mode == "discrete":
            env.step(p.default_plan)
        else:
            scores = -np.ones(p.num_actions, dtype=np.float32)
            scores[p.default_plan] = 1.0
            env.step(scores)
    return env


@pytest.mark.parametrize(
    ("action", "match"),
    [
        (np.array([1, 2]), "shape"),
        (np.zeros((2, 2), dtype=np.int64), "shape"),
        (-1, "range"),
        (lambda n: n, "range"),  # one past the last action
        (lambda n: 10 * n, "range"),
        (1.5, "integer"),
        (float("nan"), "integer"),
        (np.float64("inf"), "integer"),
    ],
)
def test_invalid_discrete_action_raises(action, match: str) -> None:  # type: ignore[no-untyped-def]
    env = _env_at_request("discrete")
    if callable(action):
        action = action(env.action_space.n)
    with pytest.raises(ValueError, match=match):
        env.step(action)


@pytest.mark.parametrize(
    ("kind", "match"), [("short", "shape"), ("nan", "NaN"), ("big", r"\[-1, 1\]")]
)
def test_invalid_continuous_action_raises(kind: str, match: str) -> None:
    env = _env_at_request("continuous")
    n = env.action_space.shape[0]
    action = {
        "short": np.zeros(n - 1, dtype=np.float32),
        "nan": np.where(np.arange(n) == 3, np.nan, 0.0).astype(np.float32),
        "big": np.full(n, 1.5, dtype=np.float32),
    }[kind]
    with pytest.raises(ValueError, match=match):
        env.step(action)


def test_a_rejected_action_does_not_change_the_episode() -> None:
    """After a step raised on an invalid action, the env is where it was."""
    a, b = _env_at_request(seed=3), _env_at_request(seed=3)
    with pytest.raises(ValueError):
        a.step(-1)
    with pytest.raises(ValueError):
        a.step(np.array([0, 1]))
    for _ in range(30):
        valid = int(np.flatnonzero(a.action_masks())[-1])
        ra = a.step(valid)
        rb = b.step(valid)
        np.testing.assert_array_equal(ra[0], rb[0])
        assert ra[1] == rb[1]


def _forbidden_request_env(seed: int, w_invalid: float) -> tuple[GainNetEnv, int]:
    """An env at a request decision where a real option (local, a real edge or
    the cloud, not a padded edge) is forbidden, and that option."""
    env = _env_at_request(seed=seed, overrides={"reward.w_invalid": w_invalid})
    p = env.params
    real = np.array([0, *range(1, 1 + p.num_edges), p.max_edges + 1])
    for _ in range(10_000):
        mask = env.action_masks()
        if core.decision_type(env.state, p)[0] == core.DECISION_REQUEST:
            forbidden = real[~mask[real]]
            if forbidden.size:
                return env, int(forbidden[0])
        env.step(int(np.flatnonzero(mask)[-1]))
    raise AssertionError("no forbidden request option found")


@pytest.mark.parametrize("w_invalid", [0.1, 0.7])
def test_forbidden_request_action_is_rejected_counted_and_penalised(w_invalid: float) -> None:
    """A forbidden option is executed as reject, counted in info["invalid"],
    and costs exactly reward.w_invalid compared to choosing reject."""
    a, forbidden = _forbidden_request_env(5, w_invalid)
    b, _ = _forbidden_request_env(5, w_invalid)
    reject = a.params.num_options - 1
    inv0 = a.state.ep["invalid"][0]
    rej0 = a.state.ep["rejected"][0]
    oa, ra, _, _, ia = a.step(forbidden)
    ob, rb, _, _, ib = b.step(reject)
    assert ia["invalid"] == 1 and ib["invalid"] == 0
    assert a.state.ep["invalid"][0] == inv0 + 1
    assert a.state.ep["rejected"][0] == rej0 + 1
    assert ra == pytest.approx(rb - w_invalid, abs=1e-9)
    np.testing.assert_array_equal(oa, ob)  # same consequence otherwise
    # ... and the rest of the episode unfolds identically
    for _ in range(20):
        act = int(np.flatnonzero(a.action_masks())[-1])
        assert a.step(act)[1] == b.step(act)[1]


def test_forbidden_plan_keeps_the_current_plan_counted_and_penalised() -> None:
    ov = {"reward.w_invalid": 0.3, "network.edge_memory_gb": 10.0}
    env_a = GainNetEnv(scenario="small", overrides=ov)
    env_b = GainNetEnv(scenario="small", overrides=ov)
    env_a.reset(seed=2)
    env_b.reset(seed=2)
    p = env_a.params
    mask = env_a.action_masks()
    too_big = int(np.flatnonzero(~mask[: p.num_plans])[0])
    assert p.plan_memory_gb[too_big] > p.edge_memory_gb - 1.0
    current = int(env_a.state.plan[0, 0])
    _, ra, _, _, ia = env_a.step(too_big)
    _, rb, _, _, ib = env_b.step(current)
    assert ia["invalid"] == 1 and ib["invalid"] == 0
    assert ra == pytest.approx(rb - 0.3, abs=1e-12)
    np.testing.assert_array_equal(env_a.state.edge_tier, env_b.state.edge_tier)
    np.testing.assert_array_equal(env_a.state.plan, env_b.state.plan)
    assert env_a.state.plan_ptr[0] == env_b.state.plan_ptr[0] == 1


def test_invalid_actions_are_reported_in_episode_metrics() -> None:
    """A policy taking the first forbidden action whenever there is one: every
    such step is counted, and the penalties are part of the episode reward."""
    env = GainNetEnv(scenario="small")
    env.reset(seed=0)
    n_forbidden = 0
    total = 0.0
    while True:
        mask = env.action_masks()
        bad = np.flatnonzero(~mask)
        act = int(bad[0]) if bad.size else int(np.flatnonzero(mask)[0])
        n_forbidden += bool(bad.size)
        _, r, _, truncated, info = env.step(act)
        total += r
        if truncated:
            break
    ep = info["episode_metrics"]
    assert n_forbidden > 0
    assert ep["invalid_actions"] == n_forbidden
    assert ep["reward"] == pytest.approx(total, abs=1e-9)
