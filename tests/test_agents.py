"""Agents in-process: config composition, policies, save/load, atomic checkpoints."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from gainnet_rl.agents.callbacks import NetworkKPICallback
from gainnet_rl.agents.policies import FlatLayout, OptionScorer, flat_layout
from gainnet_rl.agents.sb3_vec_env import GainNetSB3VecEnv
from gainnet_rl.agents.trainer import build_env, build_model, env_choices, validate
from gainnet_rl.agents.wrappers import TimeAwareTermination
from gainnet_rl.envs import GainNetVectorEnv
from gainnet_rl.envs.config import ConfigError, conf_dir, make_params, scenario_names
from gainnet_rl.evaluation import runs
from gainnet_rl.evaluation.rollout import evaluate
from gainnet_rl.evaluation.runs import ModelLoadError

# one intra-op thread: with more, torch spin-waits on cores busy with other tests
torch.set_num_threads(1)

AGENTS = sorted(p.stem for p in (conf_dir() / "agent").glob("*.yaml"))
LAUNCHERS = sorted(p.stem for p in (conf_dir() / "hydra" / "launcher").glob("*.yaml"))
PLUGIN = {
    "local": "hydra_plugins.hydra_joblib_launcher",
    "slurm": "hydra_plugins.hydra_submitit_launcher",
    "ray_cluster": "hydra_plugins.hydra_ray_launcher",
    "ray_local": "hydra_plugins.hydra_ray_launcher",
}


def compose_train(*overrides: str, hydra_cfg: bool = False):  # type: ignore[no-untyped-def]
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=hydra_cfg)


def tiny_cfg(agent: str, scenario: str = "small", *extra: str):  # type: ignore[no-untyped-def]
    cfg = compose_train(f"agent={agent}", f"scenario={scenario}", "env.num_envs=2", *extra)
    if agent == "sac":
        cfg.agent.buffer_size = 1000
        cfg.agent.learning_starts = 32
        cfg.agent.batch_size = 16
    else:
        cfg.agent.n_steps = 32
        cfg.agent.batch_size = 32
        cfg.agent.n_epochs = 1
    return cfg


def test_agent_and_scenario_groups_are_complete() -> None:
    assert AGENTS == ["maskable_ppo", "ppo", "sac"]
    assert set(scenario_names()) >= {"small", "medium", "large"}


@pytest.mark.parametrize("scenario", scenario_names())
@pytest.mark.parametrize("agent", AGENTS)
def test_every_config_composes_and_instantiates(agent: str, scenario: str) -> None:
    # the plan prior's search takes 0.5-2 min on the larger scenarios: small only
    extra = (
        ()
        if agent != "maskable_ppo" or scenario == "small"
        else ("agent.policy_kwargs.plan_prior=null",)
    )
    cfg = tiny_cfg(agent, scenario, *extra)
    validate(cfg)
    params = make_params(cfg.scenario)
    assert params.name == scenario
    env = build_env(cfg, params)
    model = build_model(cfg, env, params)
    assert (
        type(model).__name__ == {"maskable_ppo": "MaskablePPO", "ppo": "PPO", "sac": "SAC"}[agent]
    )
    obs = env.reset()
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(action[0])
    env.close()


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_launcher_configs(launcher: str) -> None:
    """Each launcher config composes when its plugin is installed; the ones whose
    plugin is absent are loaded only when selected, so the default still composes."""
    raw = yaml.safe_load((conf_dir() / "hydra" / "launcher" / f"{launcher}.yaml").read_text())
    assert raw["defaults"], "a launcher config extends the plugin's own config"
    if importlib.util.find_spec(PLUGIN[launcher]) is None:
        with pytest.raises(Exception, match="Could not"):
            compose_train(f"hydra/launcher={launcher}", hydra_cfg=True)
        cfg = compose_train(hydra_cfg=True)
        assert cfg.hydra.launcher.n_jobs == 2
        return
    cfg = compose_train(f"hydra/launcher={launcher}", hydra_cfg=True)
    assert cfg.hydra.launcher._target_.startswith("hydra_plugins.")
    if launcher == "local":
        assert cfg.hydra.launcher.n_jobs == 2


def test_default_config_is_maskable_ppo_on_small() -> None:
    cfg = compose_train()
    assert cfg.agent.name == "maskable_ppo" and cfg.scenario.name == "small"
    assert cfg.scenario.load == 1.0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.total_timesteps=-5"], "train.total_timesteps=-5 is invalid"),
        (["train.total_timesteps=0"], "train.total_timesteps=0 is invalid"),
        (["env.num_envs=0"], "env.num_envs=0 is invalid"),
        (["agent=sac", "agent.action_mode=discrete"], "invalid for SAC"),
        (["agent.action_mode=continuous"], "invalid for MaskablePPO"),
        (["evaluate.episodes=1"], "evaluate.episodes=1 is invalid"),
        (["evaluate.baselines=[oracle]"], "unknown ['oracle']"),
        (["env.normalize_obs=true"], "env.normalize_obs=true is invalid"),
        (["seed=63"], "overlap the evaluate seeds"),
        (["device=tpu"], "device='tpu' is invalid"),
        (["env.episode_end=never"], "env.episode_end='never' is invalid"),
        (["env.normalize_reward=sometimes"], "env.normalize_reward='sometimes' is invalid"),
    ],
)
def test_validate_names_the_bad_key(overrides: list[str], message: str) -> None:
    cfg = compose_train(*overrides)
    with pytest.raises(ConfigError, match=None) as exc:
        validate(cfg)
    assert message in str(exc.value)


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("maskable_ppo", (True, "bootstrap")),
        ("ppo", (True, "bootstrap")),
        ("sac", (False, "terminal")),
    ],
)
def test_auto_env_choices_follow_the_algorithm_family(agent: str, expected: tuple) -> None:
    assert env_choices(compose_train(f"agent={agent}")) == expected
    cfg = compose_train(f"agent={agent}", "env.episode_end=bootstrap", "env.normalize_reward=true")
    assert env_choices(cfg) == (True, "bootstrap")


def test_time_aware_termination_ends_returns_at_the_episode_end() -> None:
    """The wrapper drops SB3's truncation flag (the final observation is not
    bootstrapped) and changes nothing else."""
    p = make_params("small")
    plain = GainNetSB3VecEnv(2, p, seed=5)
    wrapped = TimeAwareTermination(GainNetSB3VecEnv(2, p, seed=5))
    o1, o2 = plain.reset(), wrapped.reset()
    ended = 0
    for _ in range(400):
        a = np.argmax(plain.action_masks(), axis=1)
        o1, r1, d1, i1 = plain.step(a)
        o2, r2, d2, i2 = wrapped.step(a)
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(d1, d2)
        for a_info, b_info in zip(i1, i2, strict=True):
            assert "TimeLimit.truncated" not in b_info
            assert set(a_info) - set(b_info) <= {"TimeLimit.truncated"}
        ended += int(d1.sum())
    assert ended > 0


def test_flat_layout_matches_the_env() -> None:
    for name in scenario_names():
        p = make_params(name)
        layout = FlatLayout(**flat_layout(p))
        assert layout.obs_dim == GainNetVectorEnv(1, params=p).single_observation_space.shape[0]


def test_option_scorer_logits_follow_the_decision_type() -> None:
    """Plan decisions get one logit per plan; request decisions one per option
    from the shared scorer, and a large negative logit past the options."""
    import torch as th

    p = make_params("medium")
    layout = FlatLayout(**flat_layout(p))
    scorer = OptionScorer(layout, hidden=[32], scorer_hidden=[16], activation=th.nn.Tanh)
    env = GainNetVectorEnv(8, params=p)
    obs, _ = env.reset(seed=0)
    seen = set()
    for _ in range(40):
        x = th.as_tensor(obs)
        with th.no_grad():
            logits = scorer(x)
        assert logits.shape == (8, layout.num_actions)
        is_req = x[:, 1] > 0.5
        assert th.all(logits[is_req, layout.num_options :] == -30.0)
        assert th.all(logits[~is_req, : layout.num_plans] > -30.0)
        seen |= set(is_req.tolist())
        obs, *_ = env.step(np.argmax(env.action_masks(), axis=1))
    assert seen == {True, False}


def test_a_dominant_prior_reproduces_greedy_best_plan() -> None:
    """With prior logits far above the (near-zero) learned ones, the untrained
    residual policy acts as greedy_best_plan: greedy on the expected reward,
    the searched plan per edge. A prior that ignored the edge being planned,
    or the reward feature, would play other episodes."""
    from gainnet_rl.agents.baselines import GreedyBestPlan

    cfg = tiny_cfg(
        "maskable_ppo",
        "small",
        "agent.policy_kwargs.reward_prior=1000",
        "agent.policy_kwargs.plan_prior_logit=1000",
    )
    params = make_params(cfg.scenario)
    model = build_model(cfg, build_env(cfg, params), params)
    seeds = [1000, 1001, 1002]
    prior = evaluate(lambda e: runs.LearnedPolicy(model), params, seeds)
    greedy = evaluate(lambda e: GreedyBestPlan(e), params, seeds)
    np.testing.assert_allclose(prior["reward"], greedy["reward"], atol=0.05)
    scratch = tiny_cfg(
        "maskable_ppo",
        "small",
        "agent.policy_kwargs.reward_prior=0",
        "agent.policy_kwargs.plan_prior=null",
    )
    no_prior = build_model(scratch, build_env(cfg, params), params)
    plain = evaluate(lambda e: runs.LearnedPolicy(no_prior), params, seeds)
    assert np.abs(plain["reward"] - greedy["reward"]).max() > 0.5


PRIOR_KEYS = ("reward_prior", "plan_prior", "plan_prior_logit")


def test_sac_prior_reproduces_greedy_best_plan() -> None:
    """SAC's actor takes the same residual prior, inside its bounded mean
    scores: untrained, its deterministic scores rank the options by expected
    reward and put the searched plan first, so it plays greedy_best_plan's
    episodes (to within the near-zero learned part); without it, not."""
    from gainnet_rl.agents.baselines import GreedyBestPlan

    params = make_params("small")
    seeds = [1000, 1001, 1002]
    greedy = evaluate(lambda e: GreedyBestPlan(e), params, seeds)
    for prior, close in (((1.0, "greedy_best_plan", 1.5), True), ((0.0, "null", 0.0), False)):
        cfg = tiny_cfg(
            "sac",
            "small",
            *(f"+agent.policy_kwargs.{k}={v}" for k, v in zip(PRIOR_KEYS, prior, strict=True)),
        )
        model = build_model(cfg, build_env(cfg, params), params)
        res = evaluate(lambda e, m=model: runs.LearnedPolicy(m), params, seeds, "continuous")
        gap = np.abs(res["reward"] - greedy["reward"]).max()
        assert (gap < 0.1) if close else (gap > 0.5), (prior, gap)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reward_prior": -1.0}, "reward_prior=-1.0 is invalid"),
        ({"plan_prior": [999], "plan_prior_logit": 1.0}, "plan_prior[0]=999"),
        ({"plan_prior_logit": -2}, "plan_prior_logit=-2 is invalid"),
    ],
)
def test_bad_prior_names_the_field(kwargs: dict, message: str) -> None:
    from gainnet_rl.agents.policies import prior_kwargs

    p = make_params("small")
    layout = FlatLayout(**flat_layout(p))
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        OptionScorer(layout, [8], [8], torch.nn.Tanh, **prior_kwargs(**kwargs))


def test_generalist_trains_on_episodes_of_several_cells() -> None:
    """env.mix=true: the sub-envs draw their (scenario, load) per episode; MaskablePPO
    learns on them, with the network KPIs read from the scalar infos."""
    from stable_baselines3.common.callbacks import BaseCallback

    cfg = tiny_cfg(
        "maskable_ppo",
        "small",
        "env.mix=true",
        "env.mix_scenarios=[small,medium]",
        "env.mix_loads=[0.5,2.0]",
        "agent.policy_kwargs.plan_prior=default",
    )
    params = make_params(cfg.scenario)
    env = build_env(cfg, params)
    model = build_model(cfg, env, params)
    cells: set[tuple[str, float]] = set()

    class Cells(BaseCallback):
        def _on_step(self) -> bool:
            cells.update((i["scenario"], i["load"]) for i in self.locals["infos"])
            return True

    logged: dict[str, float] = {}

    class KPIs(NetworkKPICallback):
        def _on_rollout_end(self) -> None:
            if self._steps:
                logged.update({k: v / self._steps for k, v in self._step_sums.items()})
            super()._on_rollout_end()

    model.learn(1500, callback=[KPIs(), Cells()])
    assert len(cells) >= 3 and {s for s, _ in cells} == {"small", "medium"}
    assert set(logged) == {
        "edge_backlog_s",
        "cloud_backlog_s",
        "uplink_backlog_s",
        "edge_utilization",
    }
    assert logged["edge_utilization"] > 0
    bad = tiny_cfg("maskable_ppo", "small", "env.mix=true")
    with pytest.raises(ConfigError, match=r"plan_prior=greedy_best_plan is invalid with env\.mix"):
        build_model(bad, build_env(bad, params), params)


@pytest.mark.parametrize("agent", AGENTS)
def test_save_load_gives_identical_deterministic_actions(tmp_path: Path, agent: str) -> None:
    cfg = tiny_cfg(agent)
    params = make_params(cfg.scenario)
    env = build_env(cfg, params)
    model = build_model(cfg, env, params)
    model.learn(128)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    runs.save_model_dir(run / "final", model)
    policy, loaded_cfg, model_dir = runs.load_policy(run, "final", device="cpu")
    assert model_dir == run / "final" and loaded_cfg.agent.name == agent
    # identical actions on a batch of observations of every decision type
    venv = GainNetVectorEnv(16, params=params, action_mode=cfg.agent.action_mode)
    obs, _ = venv.reset(seed=123)
    for _ in range(40):
        masks = venv.action_masks()
        kw = {"action_masks": masks} if agent == "maskable_ppo" else {}
        a1, _ = model.predict(obs, deterministic=True, **kw)
        a2, _ = policy.predict(obs, deterministic=True, action_masks=masks)
        np.testing.assert_array_equal(a1, a2)
        obs, *_ = venv.step(a1)
    # and the one evaluation path gives identical episodes
    seeds = [1000, 1001]
    mode = cfg.agent.action_mode
    r1 = evaluate(lambda e: runs.LearnedPolicy(model), params, seeds, mode)
    r2 = evaluate(lambda e: policy, params, seeds, mode)
    for k in r1:
        np.testing.assert_array_equal(r1[k], r2[k])
    env.close()


def test_checkpoints_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tiny_cfg("maskable_ppo")
    params = make_params(cfg.scenario)
    model = build_model(cfg, build_env(cfg, params), params)
    model.learn(64)
    first = runs.save_checkpoint(tmp_path, model, {"best_mean_reward": 1.0})
    assert runs.latest_checkpoint(tmp_path) == first
    model.learn(64, reset_num_timesteps=False)
    # the process dies while moving the new checkpoint into place
    real_replace = os.replace

    def dying_replace(src, dst):  # type: ignore[no-untyped-def]
        if Path(dst).name.startswith("step_"):
            raise KeyboardInterrupt("killed")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        runs.save_checkpoint(tmp_path, model, {"best_mean_reward": 2.0})
    monkeypatch.setattr(os, "replace", real_replace)
    assert runs.latest_checkpoint(tmp_path) == first
    state = runs.read_state(first)
    assert state["best_mean_reward"] == 1.0
    loaded = runs.load_model(first, type(model), device="cpu")
    assert loaded.num_timesteps == int(first.name.split("_")[1])
    # a torn model file inside the newest folder is skipped by the loader's pointer
    second = runs.save_checkpoint(tmp_path, model, {"best_mean_reward": 2.0}, keep=5)
    assert runs.latest_checkpoint(tmp_path) == second
    assert len(runs.list_checkpoints(tmp_path)) == 2


def test_model_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        runs.resolve_model_dir(tmp_path / "missing")
    (tmp_path / "config.yaml").write_text("agent: {_target_: sb3_contrib.MaskablePPO}\n")
    with pytest.raises(ModelLoadError, match="holds no saved model"):
        runs.resolve_model_dir(tmp_path)
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "model.zip").write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match=r"best/model.zip is corrupt or truncated"):
        runs.load_policy(tmp_path)
    (tmp_path / "best" / "model.zip").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="is empty"):
        runs.load_policy(tmp_path)
