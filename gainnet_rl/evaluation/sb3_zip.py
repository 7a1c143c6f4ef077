"""A model.zip that no ``gainnet-train`` run folder describes: saved by plain
SB3 code (``model.save(...)``), or copied out of a run.

Without a run config, the SB3 class comes from the zip's policy class (or
``algo=``), and the env encodings (action mode, observation, option outcomes)
are the ones whose spaces equal the model's saved spaces on the chosen
scenario (or ``action_mode=``, ``observation=``, ``option_outcomes=``). A
model whose spaces match no GainNet encoding is a clear error, naming both.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gainnet_rl.agents.options import EvaluateOptions
from gainnet_rl.envs.config import ConfigError
from gainnet_rl.envs.engine import ACTION_MODES, OBSERVATION_MODES, Engine
from gainnet_rl.envs.params import Params
from gainnet_rl.evaluation import runs
from gainnet_rl.evaluation.runs import LearnedPolicy, ModelLoadError

#: ``algo=`` names and their SB3 classes
ALGOS = {
    "maskable_ppo": "sb3_contrib.MaskablePPO",
    "ppo": "stable_baselines3.PPO",
    "a2c": "stable_baselines3.A2C",
    "sac": "stable_baselines3.SAC",
    "td3": "stable_baselines3.TD3",
    "ddpg": "stable_baselines3.DDPG",
    "dqn": "stable_baselines3.DQN",
    "qrdqn": "sb3_contrib.QRDQN",
    "trpo": "sb3_contrib.TRPO",
}


def model_file(path: Path) -> Path:
    """The zip a path names: the file itself, or ``model.zip`` in a folder."""
    path = Path(path)
    f = path if path.is_file() else path / runs.MODEL_FILE
    if not f.is_file():
        raise ModelLoadError(f"{path} holds no model.zip and no config.yaml above it")
    return f


def saved_spaces(f: Path) -> tuple[Any, Any, type]:
    """(observation space, action space, policy class) stored in an SB3 zip."""
    runs.check_zip(f)
    from stable_baselines3.common.save_util import load_from_zip_file

    try:
        data, _, _ = load_from_zip_file(str(f), load_data=True, device="cpu")
    except Exception as exc:
        raise ModelLoadError(f"model file {f} is not readable by SB3 ({exc})") from None
    if not data or "observation_space" not in data or "action_space" not in data:
        raise ModelLoadError(f"model file {f} stores no observation/action spaces (not SB3)")
    return data["observation_space"], data["action_space"], data.get("policy_class")


def detect_algo(policy_class: Any) -> str:
    """The ``algo=`` name of a saved policy class."""
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.dqn.policies import DQNPolicy
    from stable_baselines3.sac.policies import SACPolicy
    from stable_baselines3.td3.policies import TD3Policy

    order = [
        (MaskableActorCriticPolicy, "maskable_ppo"),
        (SACPolicy, "sac"),
        (TD3Policy, "td3"),
        (DQNPolicy, "dqn"),
        (ActorCriticPolicy, "ppo"),  # A2C saves the same policy: its predict is the same
    ]
    for cls, name in order:
        if isinstance(policy_class, type) and issubclass(policy_class, cls):
            return name
    raise ModelLoadError(
        f"the zip's policy class {policy_class!r} is not one gainnet-evaluate knows: "
        f"pass algo=<one of {sorted(ALGOS)}>"
    )


def match_encoding(
    params: Params, obs_space: Any, act_space: Any, fixed: dict[str, Any]
) -> dict[str, Any]:
    """The env encoding whose spaces equal the model's (``fixed``: given ones)."""
    tried = []
    for am, ob, oo in itertools.product(ACTION_MODES, OBSERVATION_MODES, (True, False)):
        enc = {"action_mode": am, "observation": ob, "option_outcomes": oo}
        if any(v is not None and enc[k] != v for k, v in fixed.items()):
            continue
        eng = Engine(params, 1, am, ob, oo)
        tried.append(enc)
        if eng.observation_space == obs_space and eng.action_space == act_space:
            return enc
    raise ModelLoadError(
        f"the model's spaces (observation {obs_space}, action {act_space}) match no GainNet "
        f"encoding of scenario {params.name!r} (tried {len(tried)}: action_mode x observation x "
        "option_outcomes); was it trained on this env? Give scenario=... (and action_mode=, "
        "observation=, option_outcomes=) as it was trained"
    )


def load_bare(
    path: Path,
    params: Params,
    algo: str | None,
    fixed: dict[str, Any],
    device: str = "auto",
) -> tuple[LearnedPolicy, DictConfig, Path]:
    """Load a model.zip without a run config; returns (policy, a run config for
    :func:`gainnet_rl.evaluation.comparison.evaluate_run`, the zip)."""
    f = model_file(path)
    obs_space, act_space, policy_class = saved_spaces(f)
    if algo is not None and algo not in ALGOS:
        raise ConfigError(f"algo={algo!r} is unknown: must be one of {sorted(ALGOS)}")
    name = algo or detect_algo(policy_class)
    enc = match_encoding(params, obs_space, act_space, fixed)
    from hydra.utils import get_class

    model = runs.load_model(f, get_class(ALGOS[name]), device=device)
    ev = EvaluateOptions()
    cfg = OmegaConf.create(
        {
            "agent": {"name": name, "_target_": ALGOS[name], "action_mode": enc["action_mode"]},
            "env": {"observation": enc["observation"], "option_outcomes": enc["option_outcomes"]},
            "scenario": {},  # unknown: no run config
            "evaluate": {
                "model": "best",
                "episodes": ev.episodes,
                "first_seed": ev.first_seed,
                "baselines": list(ev.baselines),
            },
            "device": device,
        }
    )
    # a model copied out of a run keeps its observation statistics beside it
    return LearnedPolicy(model, runs.load_vecnormalize(f)), cfg, f
