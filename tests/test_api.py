"""API checks of the Gymnasium env (issue 2, item 3 and 5): env checkers for
every scenario x action mode x observation, registration, masks, rendering."""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import gainnet_rl  # noqa: F401  (registers the ids)
from gainnet_rl.envs import GainNetEnv

ENV_ID = "gainnet_rl/GainNet-v2"
SCENARIOS = {"small": (2, 20), "medium": (4, 40), "large": (8, 80)}  # (edges, devices)
ACTION_MODES = ("discrete", "continuous")
OBSERVATIONS = ("flat", "graph")
# SB3 recommends 1-D or image observations; the graph Dict holds 2-D node and
# edge feature matrices on purpose, so this one warning is expected.
SB3_GRAPH_WARNING = "unconventional shape"

all_modes = pytest.mark.parametrize(
    ("scenario", "action_mode", "observation"),
    [(s, a, o) for s in SCENARIOS for a in ACTION_MODES for o in OBSERVATIONS],
)


def _messages(records: list[warnings.WarningMessage]) -> list[str]:
    return [f"{w.category.__name__}: {w.message}" for w in records]


@all_modes
def test_gymnasium_env_checker_passes(scenario: str, action_mode: str, observation: str) -> None:
    # Exercise both render modes through the checker as well.
    render_mode = "ansi" if action_mode == "discrete" else "rgb_array"
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        env = gym.make(
            ENV_ID,
            scenario=scenario,
            action_mode=action_mode,
            observation=observation,
            render_mode=render_mode,
        )
        gym_check_env(env.unwrapped)
        env.close()
    assert not rec, _messages(rec)


@all_modes
def test_sb3_env_checker_passes(scenario: str, action_mode: str, observation: str) -> None:
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        env = GainNetEnv(scenario=scenario, action_mode=action_mode, observation=observation)
        sb3_check_env(env, warn=True)
    unexpected = [
        m for m in _messages(rec) if not (observation == "graph" and SB3_GRAPH_WARNING in m)
    ]
    assert not unexpected, unexpected


def test_make_works_in_a_fresh_interpreter() -> None:
    code = (
        "import gymnasium as gym, numpy as np\n"
        "env = gym.make('gainnet_rl:gainnet_rl/GainNet-v2')\n"
        "obs, info = env.reset(seed=0)\n"
        "assert env.observation_space.contains(obs)\n"
        "a = int(np.flatnonzero(env.unwrapped.action_masks())[0])\n"
        "obs, r, term, trunc, info = env.step(a)\n"
        "assert env.observation_space.contains(obs)\n"
        "print('OK', type(env.unwrapped).__name__, env.unwrapped.params.num_edges)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "OK GainNetEnv 2", res.stdout  # default scenario: small


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_per_scenario_ids_build_that_scenario(scenario: str) -> None:
    env_id = f"gainnet_rl/GainNet-{scenario}-v2"
    assert env_id in gym.registry
    env = gym.make(env_id)
    edges, devices = SCENARIOS[scenario]
    params = env.unwrapped.params
    assert (params.num_edges, params.num_devices) == (edges, devices)
    same = gym.make(ENV_ID, scenario=scenario)
    assert env.observation_space == same.observation_space
    assert env.action_space == same.action_space


@pytest.mark.parametrize(
    ("action_mode", "observation"), [("discrete", "flat"), ("continuous", "graph")]
)
def test_spaces_do_not_depend_on_network_size(action_mode: str, observation: str) -> None:
    envs = [
        GainNetEnv(scenario=s, action_mode=action_mode, observation=observation) for s in SCENARIOS
    ]
    for env in envs[1:]:
        assert env.observation_space == envs[0].observation_space
        assert env.action_space == envs[0].action_space


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("action_mode", ACTION_MODES)
def test_action_masks_shape_dtype_and_nonempty(scenario, action_mode, random_action) -> None:
    env = GainNetEnv(scenario=scenario, action_mode=action_mode)
    n = env.action_space.n if action_mode == "discrete" else env.action_space.shape[0]
    rng = np.random.default_rng(0)
    _, info = env.reset(seed=1)
    kinds = set()
    for _ in range(150):
        mask = env.action_masks()
        assert mask.shape == (n,)
        assert mask.dtype == np.bool_
        assert mask.any(), "no valid action"
        np.testing.assert_array_equal(info["action_mask"], mask)
        kinds.add(int(info["decision_type"]))
        _, _, _, truncated, info = env.step(random_action(env, rng))
        if truncated:
            break
    assert kinds == {0, 1}, "the rollout should see plan and request decisions"


@pytest.mark.parametrize("memory_gb", [16.0, 10.0, 7.0])
def test_plan_mask_forbids_plans_that_exceed_edge_memory(memory_gb: float) -> None:
    """A plan is valid iff its weights, fine-tuning memory and one stream of the
    largest request of each service it holds fit the edge memory."""
    env = GainNetEnv(scenario="small", overrides={"network.edge_memory_gb": memory_gb})
    env.reset(seed=0)
    p = env.params
    mask = env.action_masks()  # slot 0 is a frame boundary: a plan decision
    fits = []
    for i in range(p.num_plans):
        need, weights = 0.0, 0.0
        for s, t in enumerate(p.plan_tiers[i]):
            if t < 0:
                continue
            weights += p.tier_memory_gb[s, t]
            tokens = p.in_tokens_hi[s] + p.visual_tokens[s] + p.out_tokens_hi[s]
            need = max(need, p.tier_kv_fixed_gb[s, t] + p.tier_kv_per_token_gb[s, t] * tokens)
        ft = p.finetune_memory_gb if p.plan_finetune[i] > 0 else 0.0
        fits.append(weights + ft + need <= memory_gb + 1e-9)
    np.testing.assert_array_equal(mask[: p.num_plans], fits)
    assert not mask[p.num_plans :].any()
    if memory_gb < 16:
        assert not all(fits), "a smaller memory should forbid some plans"


@pytest.mark.parametrize("scenario", ["small", "large"])
def test_render_ansi_returns_text(scenario: str) -> None:
    env = gym.make(ENV_ID, scenario=scenario, render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert isinstance(text, str)
    assert text.strip()


@pytest.mark.parametrize("scenario", ["small", "large"])
def test_render_rgb_array_returns_an_image(scenario: str) -> None:
    env = gym.make(ENV_ID, scenario=scenario, render_mode="rgb_array")
    env.reset(seed=0)
    img = env.render()
    assert isinstance(img, np.ndarray)
    assert img.ndim == 3 and img.shape[2] == 3
    assert img.shape[0] > 0 and img.shape[1] > 0
    assert img.dtype == np.uint8
    assert img.std() > 0, "the picture is blank"


@pytest.mark.parametrize("make", ["class", "gym.make"])
def test_invalid_render_mode_raises(make: str) -> None:
    with pytest.raises(ValueError, match="render_mode"):
        if make == "class":
            GainNetEnv(render_mode="bogus")
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # gymnasium warns before the env raises
                gym.make(ENV_ID, render_mode="bogus")


def test_episode_ends_by_truncation_only_and_then_requires_reset(play, random_action) -> None:
    env = gym.make(ENV_ID, scenario="small", load=0.5)
    rng = np.random.default_rng(0)
    traj, last_info = play(env, lambda e, o, i: random_action(e.unwrapped, rng), 0)
    params = env.unwrapped.params
    assert env.unwrapped.state.slot[0] == params.episode_slots
    assert "episode_metrics" in last_info
    assert all("episode_metrics" not in info for _, _, info in traj[:-1])
    with pytest.raises(RuntimeError, match="reset"):
        env.unwrapped.step(0)
    env.reset(seed=1)
    env.step(random_action(env.unwrapped, rng))


def test_v0_is_removed() -> None:
    """v1 replaced v0's dynamics (SYSTEM_MODEL sec. 12): the old ids are gone."""
    for env_id in ("gainnet_rl/GainNet-v0", "gainnet_rl/GainNet-small-v0"):
        assert env_id not in gym.registry
        with pytest.raises(gym.error.Error):
            gym.make(env_id)
    doc = GainNetEnv.__doc__ or ""
    assert "## Version History" in doc and "- v1:" in doc and "- v2:" in doc
