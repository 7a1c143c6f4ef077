"""RL clients a researcher already uses, run on the env for a few thousand steps:
Gymnasium's checks, every SB3 algorithm, heuristics under SB3's evaluate_policy,
gainnet-evaluate on a plain SB3 zip, TorchRL, Tianshou, a CleanRL-style loop and
the README's snippets (verbatim, 1,024 steps each). TorchRL and Tianshou come
with the ``clients`` extra (scripts/setup.sh installs it); without it their
tests are skipped, saying so (under CI a missing extra fails).
"""

from __future__ import annotations

import copy
import importlib
import os
import pickle
import runpy
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import gainnet_rl  # noqa: F401  (registers the ids)
from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.agents.sb3_vec_env import GainNetSB3VecEnv
from gainnet_rl.envs.config import make_params
from gainnet_rl.envs.wrappers import ValidActions, ValidActionsVector

ENV_ID = "gainnet_rl/GainNet-v2"
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CLIENTS = runpy.run_path(str(ROOT / "scripts" / "client_returns.py"))


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _need(module: str) -> None:
    if os.environ.get("CI"):
        importlib.import_module(module)  # CI installs the clients extra: must be there
    else:
        pytest.importorskip(module, reason=f"{module} needs pip install -e '.[clients]'")


# ------------------------------------------------------------------ Gymnasium


@pytest.mark.parametrize("kwargs", [{}, {"mask_key": "action_mask"}, {"observation": "graph"}])
def test_gymnasium_checks(kwargs: dict) -> None:
    from gymnasium.utils.env_checker import check_env
    from gymnasium.utils.env_match import check_environments_match

    env = gym.make(ENV_ID, render_mode="rgb_array", **kwargs)
    check_env(env.unwrapped)
    check_environments_match(
        gym.make(ENV_ID, **kwargs), gym.make(ENV_ID, **kwargs), num_steps=200, skip_render=True
    )


def test_pickle_and_deepcopy_mid_episode_continue_identically() -> None:
    env = gym.make(ENV_ID)
    obs, info = env.reset(seed=0)
    for _ in range(30):
        obs, *_, info = env.step(int(np.flatnonzero(info["action_mask"])[-1]))
    copies = [copy.deepcopy(env), pickle.loads(pickle.dumps(env))]
    for _ in range(30):
        a = int(np.flatnonzero(info["action_mask"])[0])
        obs, r, _, _, info = env.step(a)
        for c in copies:
            o, rc, *_ = c.step(a)
            np.testing.assert_array_equal(o, obs)
            assert rc == r


def test_mask_in_the_observation_matches_info() -> None:
    env = gym.make(ENV_ID, mask_key="mask", obs_key="obs")
    obs, info = env.reset(seed=0)
    assert set(obs) == {"obs", "mask"} and obs["mask"].dtype == np.int8
    np.testing.assert_array_equal(obs["mask"].astype(bool), info["action_mask"])
    with pytest.raises(Exception, match="obs_key='mask' is invalid"):
        gym.make(ENV_ID, mask_key="mask", obs_key="mask")


def test_valid_actions_wrappers_start_a_mask_unaware_agent_at_the_valid_level() -> None:
    def uniform_return(wrap: bool, seed: int) -> tuple[float, int]:
        env = gym.make(ENV_ID)
        env = ValidActions(env, seed=seed) if wrap else env
        _, info = env.reset(seed=1000 + seed)
        rng, ret, replaced, done = np.random.default_rng(seed), 0.0, 0, False
        while not done:
            _, r, term, trunc, info = env.step(int(rng.integers(env.action_space.n)))
            ret, done = ret + r, term or trunc
            replaced += bool(info.get("action_replaced", False))
            assert info["invalid"] == 0 or not wrap
        return ret, replaced

    raw = [uniform_return(False, k)[0] for k in range(4)]
    wrapped = [uniform_return(True, k) for k in range(4)]
    assert all(n > 0 for _, n in wrapped)
    assert np.mean([r for r, _ in wrapped]) > np.mean(raw) + 3.0
    venv = ValidActionsVector(gym.make_vec(ENV_ID, 3, vectorization_mode="vector_entry_point"))
    venv.reset(seed=0)
    for _ in range(100):
        *_, infos = venv.step(np.full(3, venv.single_action_space.n - 1))
        assert (infos["invalid"] == 0).all()
    with pytest.raises(ValueError, match="needs action_mode='discrete'"):
        ValidActions(gym.make(ENV_ID, action_mode="continuous"))


# ------------------------------------------------------------------ stable-baselines3


@pytest.mark.parametrize(
    ("algo", "action_mode"),
    [("PPO", "discrete"), ("A2C", "discrete"), ("DQN", "discrete"), ("SAC", "continuous"),
     ("TD3", "continuous"), ("MaskablePPO", "discrete")],
)  # fmt: skip
def test_every_sb3_algorithm_learns_a_few_steps(algo: str, action_mode: str) -> None:
    import sb3_contrib
    import stable_baselines3 as sb3
    from stable_baselines3.common.env_util import make_vec_env

    cls = getattr(sb3_contrib if algo == "MaskablePPO" else sb3, algo)
    venv = make_vec_env(ENV_ID, n_envs=2, seed=0, env_kwargs={"action_mode": action_mode})
    kw = {"n_steps": 128, "batch_size": 64} if algo in ("PPO", "MaskablePPO") else {}
    kw |= {"learning_starts": 200, "buffer_size": 5000} if algo in ("DQN", "SAC", "TD3") else {}
    kw |= {"policy_kwargs": {"net_arch": [32, 32]}}
    model = cls("MlpPolicy", venv, seed=0, device="cpu", **kw).learn(1000)
    assert model.num_timesteps >= 1000
    venv.close()


def test_heuristics_under_sb3_evaluate_policy_everywhere() -> None:
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import SubprocVecEnv

    envs = {
        "DummyVecEnv": make_vec_env(ENV_ID, n_envs=2, seed=0),
        # a subprocess imports gainnet_rl itself through the "module:id" form
        "SubprocVecEnv": make_vec_env(
            f"gainnet_rl:{ENV_ID}", n_envs=2, seed=0, vec_env_cls=SubprocVecEnv
        ),
        "GainNetSB3VecEnv": GainNetSB3VecEnv(2, make_params("small"), seed=0),
    }
    means = {}
    for name, venv in envs.items():
        policy = HEURISTICS["greedy_utility"](venv)
        means[name] = evaluate_policy(policy, venv, n_eval_episodes=2)[0]
        venv.close()
    # the same seeds, the same episodes: the same mean (float32 rewards in the adapter)
    assert means["DummyVecEnv"] == means["SubprocVecEnv"]
    assert means["GainNetSB3VecEnv"] == pytest.approx(means["DummyVecEnv"], rel=1e-5)
    # a plain Gymnasium loop, and Gymnasium's sync/async vector envs
    env = gym.make(ENV_ID)
    policy = HEURISTICS["matching"](env)
    obs, _ = env.reset(seed=0)
    action, _ = policy.predict(obs)
    assert np.ndim(action) == 0
    for mode in ("sync", "async"):
        venv = gym.make_vec(f"gainnet_rl:{ENV_ID}", 2, vectorization_mode=mode)
        policy = HEURISTICS["greedy_utility"](venv)
        obs, _ = venv.reset(seed=0)
        for _ in range(20):
            obs, *_ = venv.step(policy.predict(obs)[0])
        venv.close()
    with pytest.raises(TypeError, match="heuristics need a GainNet env"):
        HEURISTICS["greedy_utility"](gym.make("CartPole-v1"))


def test_gainnet_evaluate_on_a_plain_sb3_zip(tmp_path: Path) -> None:
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import PPO

    venv = GainNetSB3VecEnv(2, make_params("small"), seed=0)
    MaskablePPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, device="cpu").learn(
        64
    ).save(tmp_path / "mine")
    PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, n_epochs=1).learn(32).save(
        tmp_path / "cartpole"
    )
    run = lambda *a: subprocess.run(
        [str(BIN / "gainnet-evaluate"), *a], capture_output=True, text=True, timeout=300
    )
    res = run(str(tmp_path / "mine.zip"), "episodes=2", "baselines=[greedy_utility]")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "| maskable_ppo |" in res.stdout and (tmp_path / "eval_small_load1_mine").is_dir()
    # a config.yaml above the zip that gainnet-train did not write is passed over
    (tmp_path / "proj" / "models").mkdir(parents=True)
    (tmp_path / "proj" / "config.yaml").write_text("lr: 0.1\n")
    (tmp_path / "mine.zip").rename(tmp_path / "proj" / "models" / "mine.zip")
    res = run(str(tmp_path / "proj" / "models" / "mine.zip"), "episodes=2", "baselines=[]")
    assert res.returncode == 0, res.stderr[-2000:]
    bad = run(str(tmp_path / "cartpole.zip"), "episodes=2")
    assert bad.returncode == 2 and "match no GainNet encoding" in bad.stderr
    assert "Traceback" not in bad.stderr


# ------------------------------------------------------------------ TorchRL, Tianshou, CleanRL


def test_torchrl_specs_and_masked_rollout() -> None:
    _need("torchrl")
    from torchrl.envs import ActionMask, GymWrapper, TransformedEnv
    from torchrl.envs.utils import check_env_specs

    base = gym.make(ENV_ID, mask_key="action_mask")
    env = TransformedEnv(GymWrapper(base, categorical_action_encoding=True), ActionMask())
    check_env_specs(env)
    td = env.rollout(2000, break_when_any_done=False)
    chosen = td["action_mask"].gather(-1, td["action"].unsqueeze(-1))
    assert td.shape[0] == 2000 and bool((chosen == 1).all())  # random actions obey the mask


def test_tianshou_collector_respects_the_mask() -> None:
    _need("tianshou")
    from tianshou.algorithm.modelfree.dqn import DiscreteQLearningPolicy
    from tianshou.data import Collector, CollectStats, VectorReplayBuffer
    from tianshou.env import DummyVectorEnv
    from tianshou.utils.net.common import Net

    make = lambda: gym.make(ENV_ID, mask_key="mask", obs_key="obs")
    env, envs = make(), DummyVectorEnv([make] * 4)
    net = Net(state_shape=env.observation_space["obs"].shape, action_shape=env.action_space.n)
    policy = DiscreteQLearningPolicy(model=net, action_space=env.action_space, eps_training=0.5)
    buf = VectorReplayBuffer(4000, 4)
    collector = Collector[CollectStats](policy, envs, buf, exploration_noise=True)
    collector.reset()
    stats = collector.collect(n_step=2000)
    assert stats.n_collected_steps >= 2000
    batch, _ = buf.sample(0)
    assert (batch.obs.mask[np.arange(len(batch)), batch.act] == 1).all()


def test_cleanrl_style_loop_learns_and_obeys_the_mask() -> None:
    ppo = runpy.run_path(str(ROOT / "scripts" / "cleanrl_ppo.py"))
    result = ppo["main"](ppo["Args"](total_timesteps=2048, eval_episodes=2))
    assert np.isfinite(result)


@pytest.mark.parametrize("title", [t for t, _ in CLIENTS["snippets"]()])
def test_readme_snippet_runs_verbatim(title: str, tmp_path: Path) -> None:
    code = dict(CLIENTS["snippets"]())[title]
    for module in ("torchrl", "tianshou"):
        if f"from {module}" in code:
            _need(module)
    ret, _, _ = CLIENTS["run"](CLIENTS["with_budget"](code, 1024, 2), tmp_path, timeout=600)
    assert np.isfinite(ret)
