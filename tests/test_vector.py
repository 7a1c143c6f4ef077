"""The natively batched env: registration, batched-vs-scalar parity, and the
SB3 VecEnv adapter.

Parity: for the same seeds, sub-env i of ``GainNetVectorEnv`` reset with
``seed`` produces exactly the trajectory of a scalar ``GainNetEnv`` reset with
``seed + i`` (observations, rewards, truncations, step infos, final episode
metrics), including across the autoreset into a second episode.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from gainnet_rl.agents.sb3_vec_env import GainNetSB3VecEnv
from gainnet_rl.envs import GainNetEnv, GainNetVectorEnv, core
from gainnet_rl.envs.config import make_params
from gainnet_rl.envs.registration import ENV_ID, SCENARIO_IDS

STEP_INFO_KEYS = (*core.STEP_INFO, "cost")
KPI_KEYS = ("slot", "decision_type", "edge_backlog_s", "pending", "action_mask")
CASES = [
    (scenario, action_mode, observation)
    for scenario in ("small", "medium")
    for action_mode, observation in (
        ("discrete", "flat"),
        ("discrete", "graph"),
        ("continuous", "flat"),
    )
]
NUM_ENVS = 3
SEED = 11


def _row(x: Any, i: int) -> Any:
    return {k: v[i] for k, v in x.items()} if isinstance(x, dict) else x[i]


def _assert_obs_equal(a: Any, b: Any, what: str) -> None:
    """Equal values, dtypes and bytes (so no -0.0 where the other has 0.0)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), what
        for k in a:
            _assert_obs_equal(a[k], b[k], f"{what} [{k}]")
        return
    np.testing.assert_array_equal(a, b, err_msg=what)
    assert a.dtype == b.dtype, what
    assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes(), what


def _actions(env: GainNetVectorEnv, rs: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """Random valid actions (discrete) or random scores (continuous), one row per sub-env."""
    u = rs.random(mask.shape)
    if env.engine.action_mode == "discrete":
        return np.argmax(np.where(mask, u, -1.0), axis=1)
    return (2.0 * u - 1.0).astype(np.float32)


def _run_batched(scenario: str, action_mode: str, observation: str, extra_steps: int = 25):
    """Step the batched env until every sub-env is ``extra_steps`` into its second episode."""
    env = GainNetVectorEnv(
        NUM_ENVS,
        scenario,
        action_mode=action_mode,
        observation=observation,
        autoreset_mode=AutoresetMode.SAME_STEP,
    )
    rs = np.random.default_rng(SEED)
    obs, infos = env.reset(seed=SEED)
    log: dict[str, list] = {"obs": [obs], "actions": [], "steps": []}
    second = np.full(NUM_ENVS, -1)
    t = 0
    while (second < 0).any() or t < second.max() + extra_steps:
        act = _actions(env, rs, infos["action_mask"])
        obs, reward, terminated, truncated, infos = env.step(act)
        assert not terminated.any()
        second[(second < 0) & truncated] = t
        log["actions"].append(act)
        log["steps"].append((obs, reward, truncated, infos))
        t += 1
        assert t < 5000, "no autoreset"
    return log


@pytest.mark.parametrize(("scenario", "action_mode", "observation"), CASES)
def test_batched_matches_scalar_per_sub_env(scenario: str, action_mode: str, observation: str):
    log = _run_batched(scenario, action_mode, observation)
    for i in range(NUM_ENVS):
        env = GainNetEnv(scenario, action_mode=action_mode, observation=observation)
        obs, info = env.reset(seed=SEED + i)
        _assert_obs_equal(obs, _row(log["obs"][0], i), f"sub-env {i}: reset obs")
        episodes = 0
        for t, (act, (v_obs, v_rew, v_trunc, v_inf)) in enumerate(
            zip(log["actions"], log["steps"], strict=True)
        ):
            obs, reward, terminated, truncated, info = env.step(act[i])
            where = f"sub-env {i}, step {t}"
            assert reward == v_rew[i], where
            assert (terminated, truncated) == (False, bool(v_trunc[i])), where
            for k in STEP_INFO_KEYS:
                assert info[k] == v_inf[k][i], f"{where}: info[{k!r}]"
            if not truncated:
                _assert_obs_equal(obs, _row(v_obs, i), where)
                for k in KPI_KEYS:
                    np.testing.assert_array_equal(info[k], v_inf[k][i], err_msg=f"{where}: {k}")
                continue
            # Truncation: the final observation and metrics, then the autoreset.
            episodes += 1
            assert v_inf["_final_obs"][i] and v_inf["_final_info"][i], where
            _assert_obs_equal(obs, v_inf["final_obs"][i], f"{where}: final obs")
            final = v_inf["final_info"]
            for k, v in info["episode_metrics"].items():
                assert v == final["episode_metrics"][k][i], f"{where}: episode_metrics[{k!r}]"
            for k in STEP_INFO_KEYS:
                assert info[k] == final[k][i], f"{where}: final_info[{k!r}]"
            obs, info = env.reset()
            _assert_obs_equal(obs, _row(v_obs, i), f"{where}: first obs of the next episode")
            for k in KPI_KEYS:
                np.testing.assert_array_equal(info[k], v_inf[k][i], err_msg=f"{where}: {k}")
        assert episodes >= 1, f"sub-env {i} never truncated"


def test_sub_env_trajectory_does_not_depend_on_batch_size():
    """Sub-env 0 of a batch of 1 and of a batch of 8 (seeded alike) agree."""
    one = GainNetVectorEnv(1, "medium")
    many = GainNetVectorEnv(8, "medium")
    o1, i1 = one.reset(seed=[5])
    o8, i8 = many.reset(seed=[5, *range(100, 107)])
    rs = np.random.default_rng(0)
    for t in range(300):
        np.testing.assert_array_equal(o1[0], o8[0], err_msg=f"step {t}")
        a8 = _actions(many, rs, i8["action_mask"])
        assert np.array_equal(i1["action_mask"][0], i8["action_mask"][0])
        o1, r1, _, _, i1 = one.step(a8[:1])
        o8, r8, _, _, i8 = many.step(a8)
        assert r1[0] == r8[0], f"step {t}"


@pytest.mark.parametrize("env_id", [ENV_ID, SCENARIO_IDS["medium"]])
def test_make_vec_uses_the_native_vector_env(env_id: str):
    env = gym.make_vec(env_id, num_envs=4, vectorization_mode="vector_entry_point")
    assert isinstance(env, GainNetVectorEnv)
    assert env.num_envs == 4
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    if env_id == SCENARIO_IDS["medium"]:
        assert env.params.name == "medium"
    obs, infos = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert infos["action_mask"].shape == (4, env.single_action_space.n)
    env.close()


@pytest.mark.parametrize("observation", ["flat", "graph"])
def test_sb3_adapter_terminal_observation_and_episode_info(observation: str):
    """The adapter's terminal_observation is the scalar env's last observation,
    TimeLimit.truncated is set, and "episode" carries the return and length."""
    params = make_params("small")
    n = 2
    venv = GainNetSB3VecEnv(n, params, observation=observation, seed=SEED)
    scalars = [GainNetEnv(params=params, observation=observation) for _ in range(n)]
    obs = venv.reset()
    s_obs = [env.reset(seed=SEED + i)[0] for i, env in enumerate(scalars)]
    returns, lengths = np.zeros(n), np.zeros(n, dtype=int)
    rs = np.random.default_rng(0)
    done_seen = np.zeros(n, dtype=bool)
    for _ in range(2000):
        for i in range(n):
            _assert_obs_equal(_row(obs, i), s_obs[i], f"sub-env {i}")
        masks = np.stack(venv.env_method("action_masks"))
        act = np.argmax(np.where(masks, rs.random(masks.shape), -1.0), axis=1)
        obs, rewards, dones, infos = venv.step(act)
        assert rewards.dtype == np.float32 and dones.dtype == bool
        for i, env in enumerate(scalars):
            o, r, _, trunc, _ = env.step(act[i])
            assert np.float32(r) == rewards[i]
            returns[i] += r
            lengths[i] += 1
            assert bool(dones[i]) == trunc
            if trunc:
                _assert_obs_equal(infos[i]["terminal_observation"], o, "terminal_observation")
                assert infos[i]["TimeLimit.truncated"] is True
                assert infos[i]["episode"]["l"] == lengths[i]
                assert infos[i]["episode"]["r"] == pytest.approx(returns[i], rel=1e-9, abs=1e-9)
                assert infos[i]["episode_metrics"]["reward"] == pytest.approx(returns[i], abs=1e-6)
                o, _ = env.reset()
                returns[i], lengths[i] = 0.0, 0
                done_seen[i] = True
            else:
                assert "terminal_observation" not in infos[i] and "episode" not in infos[i]
            s_obs[i] = o
        if done_seen.all():
            break
    assert done_seen.all(), "no episode ended"


def _trajectory(env: Any, steps: int, seed: int = 3) -> list[tuple]:
    """(obs, reward, terminated, truncated) of ``steps`` steps of random valid actions
    (drawn from the infos' action masks, the same draws for the same masks)."""
    rs = np.random.default_rng(0)
    obs, infos = env.reset(seed=seed)
    out = [(obs.copy(), None, None, None)]
    for _ in range(steps):
        mask = np.asarray(infos["action_mask"], dtype=bool)
        act = np.argmax(np.where(mask, rs.random(mask.shape), -1.0), axis=1)
        obs, rew, term, trunc, infos = env.step(act)
        out.append((obs.copy(), rew.copy(), term.copy(), trunc.copy()))
    env.close()
    return out


@pytest.mark.parametrize("max_episode_steps", [None, 20])
def test_make_vec_modes_give_identical_trajectories(max_episode_steps: int | None) -> None:
    """sync, async and vector_entry_point (NEXT_STEP autoreset, with or without a
    time limit) agree step for step, across episode ends."""
    kw = {} if max_episode_steps is None else {"max_episode_steps": max_episode_steps}
    steps = 150 if max_episode_steps else 500  # a 60 s episode is ~200 steps here
    runs = {
        mode: _trajectory(gym.make_vec(ENV_ID, num_envs=3, vectorization_mode=mode, **kw), steps)
        for mode in ("vector_entry_point", "sync", "async")
    }
    native = runs.pop("vector_entry_point")
    assert sum(int(t[3].sum()) for t in native[1:]) >= 3, "no episode ended"
    if max_episode_steps is not None:
        ends = [t for t, step in enumerate(native[1:], 1) if step[3][0]]
        assert ends[:2] == [20, 41], ends  # 20 steps, then the reset step, then 20 more
    for mode, traj in runs.items():
        for t, (a, b) in enumerate(zip(native, traj, strict=True)):
            np.testing.assert_array_equal(a[0], b[0], err_msg=f"{mode}: obs at step {t}")
            if t:
                np.testing.assert_array_equal(a[1], b[1], err_msg=f"{mode}: reward at {t}")
                np.testing.assert_array_equal(a[3], b[3], err_msg=f"{mode}: truncated at {t}")
                assert not a[2].any() and not b[2].any()


def test_gymnasium_vector_wrappers_accept_the_native_env() -> None:
    from gymnasium.wrappers import vector as vw

    env = gym.make_vec(ENV_ID, num_envs=4, vectorization_mode="vector_entry_point")
    env = vw.RecordEpisodeStatistics(vw.NormalizeObservation(vw.FlattenObservation(env)))
    traj = _trajectory(env, 120)
    assert all(np.isfinite(t[0]).all() for t in traj)


def test_next_step_autoreset_semantics_and_episode_metrics() -> None:
    env = GainNetVectorEnv(2, "small", max_episode_steps=5)
    obs, infos = env.reset(seed=0)
    for _ in range(4):
        obs, rew, _, trunc, infos = env.step(np.zeros(2, dtype=int))
        assert not trunc.any()
    obs, rew, _, trunc, infos = env.step(np.zeros(2, dtype=int))
    assert trunc.all() and infos["_episode_metrics"].all()
    kept = infos
    assert set(infos["episode_metrics"]) >= {"deadline_met_ratio", "served", "dropped"}
    # the next step resets instead of stepping: reward 0, the first obs of a new episode
    first, _ = GainNetVectorEnv(2, "small").reset(seed=0)
    obs, rew, _, trunc, infos = env.step(np.zeros(2, dtype=int))
    assert not trunc.any() and (rew == 0).all()
    assert env.state.slot.tolist() == [0, 0]
    assert obs.shape == first.shape and not np.array_equal(obs, first)  # the next episode's
    env.step(np.zeros(2, dtype=int))
    assert kept["_episode_metrics"].all(), "a returned info changed after later steps"


def test_vector_env_renders_each_sub_env_and_rejects_bad_options() -> None:
    env = GainNetVectorEnv(2, "small", render_mode="rgb_array")
    env.reset(seed=0)
    frames = env.render()
    assert len(frames) == 2 and frames[0].ndim == 3 and frames[0].dtype == np.uint8
    assert env.metadata["render_fps"] >= 1
    with pytest.raises(ValueError, match="autoreset_mode='sometimes' is invalid"):
        GainNetVectorEnv(2, autoreset_mode="sometimes")
    with pytest.raises(ValueError, match="max_episode_steps=0 is invalid"):
        GainNetVectorEnv(2, max_episode_steps=0)
    with pytest.raises(ValueError, match="render_mode='human' is invalid"):
        GainNetVectorEnv(2, render_mode="human")
    same = GainNetVectorEnv(2, autoreset_mode="SameStep")
    assert same.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
