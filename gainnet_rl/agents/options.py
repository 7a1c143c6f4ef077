"""Typed options of ``gainnet-train`` (Hydra structured configs).

The schema of ``conf/train.yaml``: Hydra checks every override's key and type
against these dataclasses when it composes the config (``train.total_timestep=1``
or ``seed=abc`` fail at once, naming the key), and :func:`train_options` checks
the ranges (``__post_init__``), the one place each value is validated. One
docstring per field states its meaning, unit and range, as CleanRL's ``Args``;
``gainnet-train --cfg job`` prints the composed values.

The scenario (``scenario.*``) is validated by
:func:`gainnet_rl.envs.params.build_params` and the agent group (``agent.*``)
by the SB3 class it names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig

from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.envs.config import ConfigError, typed
from gainnet_rl.envs.engine import OBSERVATION_MODES


def _int(where: str, value: Any, lo: int) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool)) or value < lo:
        raise ConfigError(f"{where}={value!r} is invalid: must be an integer >= {lo}")


def _choice(where: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value not in allowed:
        names = ", ".join(
            "true" if a is True else "false" if a is False else str(a) for a in allowed
        )
        raise ConfigError(f"{where}={value!r} is invalid: must be one of {names}")


@dataclass
class EnvOptions:
    """The training VecEnv (``env.*``)."""

    num_envs: int = 16
    """sub-envs stepped together in one numpy call (GainNetSB3VecEnv), >= 1"""
    observation: str = "flat"
    """flat | graph (the option-scoring policies need flat)"""
    option_outcomes: bool = True
    """each request option's exact outcome in the observation (SYSTEM_MODEL 12.7)"""
    normalize_obs: bool = False
    """VecNormalize running mean/std of observations (already scaled to ~[-1, 1])"""
    normalize_reward: Any = "auto"
    """VecNormalize scaling of rewards by the return's running std: auto (on for
    on-policy agents such as PPO, off for off-policy ones such as SAC), true, false"""
    episode_end: str = "auto"
    """bootstrap: the episode end is a time-limit truncation (SB3 bootstraps the
    final observation's value); terminal: a true terminal (the observation holds
    the time left); auto: bootstrap for on-policy, terminal for off-policy agents"""
    clip_obs: float = 10.0
    """VecNormalize observation clip, > 0"""
    clip_reward: float = 10.0
    """VecNormalize reward clip, > 0"""
    mix: bool = False
    """true: train a generalist, each sub-env drawing its (scenario, load) cell at random
    per episode from mix_scenarios x mix_loads (GainNetMixEnv in SB3's DummyVecEnv); the
    periodic and final evaluations stay on ``scenario``"""
    mix_scenarios: list[str] = field(default_factory=lambda: ["small", "medium", "large"])
    """env.mix: the scenarios drawn from (they must share max_edges and the plan catalog)"""
    mix_loads: list[float] = field(default_factory=lambda: [0.5, 1.0, 1.5, 2.0])
    """env.mix: the loads drawn from, each >= 0"""

    def __post_init__(self) -> None:
        _int("env.num_envs", self.num_envs, 1)
        if self.mix:
            if not self.mix_scenarios:
                raise ConfigError("env.mix_scenarios=[] is invalid: must name >= 1 scenario")
            if not self.mix_loads or any(not ld >= 0 for ld in self.mix_loads):
                raise ConfigError(
                    f"env.mix_loads={list(self.mix_loads)!r} is invalid: must be loads >= 0"
                )
        _choice("env.observation", self.observation, OBSERVATION_MODES)
        _choice("env.normalize_reward", self.normalize_reward, ("auto", True, False))
        _choice("env.episode_end", self.episode_end, ("auto", "bootstrap", "terminal"))
        for name in ("clip_obs", "clip_reward"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"env.{name}={getattr(self, name)!r} is invalid: must be > 0")


@dataclass
class TrainOptions:
    """The training budget, periodic evaluation and checkpoints (``train.*``)."""

    total_timesteps: int = 1_000_000
    """env steps (decisions) over all sub-envs, >= 1"""
    max_minutes: float | None = None
    """wall-clock budget in minutes (> 0) over all the run's sessions: stop, checkpoint and
    evaluate after it (a resumed run gets what is left); null: none"""
    eval_freq: int = 50_000
    """env steps between periodic evaluations (they pick best/), >= 1"""
    eval_episodes: int = 20
    """episodes per periodic evaluation, >= 1"""
    eval_first_seed: int = 100_000
    """periodic-evaluation seeds: eval_first_seed .. + eval_episodes - 1, >= 0"""
    checkpoint_freq: int = 100_000
    """env steps between checkpoints, >= 1"""
    keep_checkpoints: int = 2
    """newest checkpoints kept, >= 1"""
    save_replay_buffer: bool = True
    """off-policy agents: checkpoints include the replay buffer (exact resume)"""
    progress_bar: bool = True
    """a progress bar on stderr"""
    verbose: int = 0
    """1: also print SB3's log table to stdout"""
    resume: str | None = None
    """RUN_DIR of an interrupted run: continue from its last checkpoint"""
    reuse: bool = False
    """if the run folder already holds this run (every key outside train.*, evaluate.*,
    device and torch_threads equal): reuse it when finished, resume it from its last
    checkpoint when interrupted; a folder holding another run is an error. For sweeps
    into fixed folders (hydra.sweep.subdir), as gainnet-case-study runs them"""

    def __post_init__(self) -> None:
        for name, lo in [
            ("total_timesteps", 1),
            ("eval_freq", 1),
            ("eval_episodes", 1),
            ("eval_first_seed", 0),
            ("checkpoint_freq", 1),
            ("keep_checkpoints", 1),
            ("verbose", 0),
        ]:
            _int(f"train.{name}", getattr(self, name), lo)
        mm = self.max_minutes
        if mm is not None and not mm > 0:
            raise ConfigError(f"train.max_minutes={mm!r} is invalid: must be null or a number > 0")


@dataclass
class EvaluateOptions:
    """The evaluation table written at the end of a run (``evaluate.*``, in ``eval/``)."""

    model: str = "best"
    """best | final"""
    episodes: int = 30
    """evaluation seeds first_seed .. first_seed + episodes - 1, >= 2"""
    first_seed: int = 1000
    """first evaluation seed, >= 0 (the same as gainnet-baselines' default, apart from
    training seeds)"""
    baselines: list[str] = field(default_factory=lambda: list(HEURISTICS))
    """heuristics evaluated beside the agent on the same episodes"""

    def __post_init__(self) -> None:
        _choice("evaluate.model", self.model, ("best", "final"))
        _int("evaluate.episodes", self.episodes, 2)
        _int("evaluate.first_seed", self.first_seed, 0)
        unknown = [b for b in self.baselines if b not in HEURISTICS]
        if unknown:
            raise ConfigError(
                f"evaluate.baselines has unknown {unknown}: must be among {list(HEURISTICS)}"
            )


@dataclass
class TrainConfig:
    """``gainnet-train``'s whole config: these options, the scenario and the agent."""

    seed: int = 0
    """torch/numpy seed, >= 0; training sub-env i starts from seed * env.num_envs + i"""
    device: str = "auto"
    """torch device: auto (cuda if available, else cpu), cpu, cuda, cuda:1, mps"""
    torch_threads: int = 1
    """torch intra-op threads per run, >= 0 (0: torch's default)"""
    env: EnvOptions = field(default_factory=EnvOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    evaluate: EvaluateOptions = field(default_factory=EvaluateOptions)
    scenario: Any = MISSING
    """the scenario (config group ``scenario``), validated by the Params builder"""
    agent: Any = MISSING
    """the SB3 agent (config group ``agent``): ``_target_`` class and its arguments"""

    def __post_init__(self) -> None:
        _int("seed", self.seed, 0)
        _int("torch_threads", self.torch_threads, 0)
        dev = str(self.device)
        if dev != "auto" and not (dev == "cpu" or dev.startswith("cuda") or dev == "mps"):
            raise ConfigError(f"device={dev!r} is invalid: must be auto, cpu, cuda[:i] or mps")


ConfigStore.instance().store(name="train_schema", node=TrainConfig)


def train_options(cfg: DictConfig | dict[str, Any]) -> TrainConfig:
    """The typed, range-checked ``gainnet-train`` options of a composed config."""
    out = typed(TrainConfig, cfg)
    assert isinstance(out, TrainConfig)
    return out
