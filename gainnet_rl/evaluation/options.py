"""Typed options of ``gainnet-baselines`` and ``gainnet-evaluate`` (Hydra structured configs).

The schemas of ``conf/baselines.yaml`` and ``conf/evaluate.yaml``. Both CLIs
take the same Hydra overrides as ``gainnet-train`` (``scenario=vehicular
scenario.load=1.5 scenario.network.ul_bandwidth_hz=1e7``); Hydra checks keys
and types when it composes, ``__post_init__`` checks ranges, the scenario is
validated by :func:`gainnet_rl.envs.params.build_params`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from gainnet_rl.agents.baselines import HEURISTICS, SEARCH_SEEDS
from gainnet_rl.envs.config import ConfigError


def _known(where: str, names: list[str]) -> None:
    unknown = [b for b in names if b not in HEURISTICS]
    if unknown:
        raise ConfigError(f"{where} has unknown {unknown}: must be among {list(HEURISTICS)}")


def _seeds(where: str, episodes: int | None, first: int | None) -> None:
    if episodes is not None and episodes < 2:
        raise ConfigError(f"{where}={episodes} is invalid: must be >= 2 for a confidence interval")
    if first is not None and first < 0:
        raise ConfigError(f"first_seed={first} is invalid: must be >= 0")


@dataclass
class BaselinesConfig:
    """``gainnet-baselines``: every heuristic on one scenario (``-m``: a sweep) over N seeds."""

    scenario: Any = MISSING
    """the scenario (config group ``scenario``; any key, e.g. ``scenario.load=1.5``)"""
    policies: list[str] = field(default_factory=lambda: list(HEURISTICS))
    """heuristics to evaluate (a subset of gainnet_rl.agents.baselines.HEURISTICS)"""
    seeds: int = 10
    """episodes: seeds first_seed .. first_seed + seeds - 1, >= 2"""
    first_seed: int = 1000
    """first evaluation seed, >= 0; apart from training and plan-search seeds (500-507)"""
    out: str | None = None
    """write the summaries here as JSON (and the tables beside it as .md); null: print only"""

    def __post_init__(self) -> None:
        _seeds("seeds", self.seeds, self.first_seed)
        _known("policies", self.policies)
        window = set(range(self.first_seed, self.first_seed + self.seeds))
        searching = {"greedy_best_plan", "adaptive_plan"} & set(self.policies)
        if searching and window & set(SEARCH_SEEDS):
            raise ConfigError(
                f"first_seed={self.first_seed} is invalid: seeds {self.first_seed}.."
                f"{self.first_seed + self.seeds - 1} overlap the plan-search seeds "
                f"{SEARCH_SEEDS[0]}..{SEARCH_SEEDS[-1]} of {sorted(searching)}"
            )


@dataclass
class EvaluateConfig:
    """``gainnet-evaluate``: a saved policy beside every baseline, on the same episodes."""

    run: str = MISSING
    """run folder, model folder or model.zip (also accepted as the first, positional argument)"""
    model: str = "best"
    """which model of a run folder: best | final (falls back to the other, then to the
    latest checkpoint)"""
    scenario: Any = None
    """null: the run's training scenario (``scenario.load=1.5`` etc. still apply to it);
    ``scenario=medium``: another packaged scenario (generalisation)"""
    episodes: int | None = None
    """evaluation seeds, >= 2; null: the run's evaluate.episodes"""
    first_seed: int | None = None
    """first evaluation seed, >= 0; null: the run's evaluate.first_seed"""
    baselines: list[str] | None = None
    """heuristics beside the policy; null: the run's evaluate.baselines; []: the policy alone"""
    out: str | None = None
    """output folder; null: RUN_DIR/eval_<scenario>_load<load>[_<model>]"""
    device: str = "auto"
    """torch device: auto, cpu, cuda[:i], mps"""
    torch_threads: int = 1
    """torch intra-op threads, >= 0 (0: torch's default)"""
    algo: str | None = None
    """a model.zip without a run config (saved by plain SB3 code): its SB3 class
    (maskable_ppo, ppo, a2c, sac, td3, ddpg, dqn, qrdqn, trpo); null: from the zip's
    policy class"""
    action_mode: str | None = None
    """a model.zip without a run config: discrete | continuous; null: the one whose
    action space equals the model's"""
    observation: str | None = None
    """a model.zip without a run config: flat | graph; null: the one whose observation
    space equals the model's"""
    option_outcomes: bool | None = None
    """a model.zip without a run config: whether its observation holds the option
    outcomes; null: from the model's observation space"""

    def __post_init__(self) -> None:
        if self.action_mode not in (None, "discrete", "continuous"):
            raise ConfigError(
                f"action_mode={self.action_mode!r} is invalid: must be null, discrete or continuous"
            )
        if self.observation not in (None, "flat", "graph"):
            raise ConfigError(
                f"observation={self.observation!r} is invalid: must be null, flat or graph"
            )
        if self.model not in ("best", "final"):
            raise ConfigError(f"model={self.model!r} is invalid: must be best or final")
        _seeds("episodes", self.episodes, self.first_seed)
        if self.baselines is not None:
            _known("baselines", self.baselines)
        if self.torch_threads < 0:
            raise ConfigError(f"torch_threads={self.torch_threads} is invalid: must be >= 0")


ConfigStore.instance().store(name="baselines_schema", node=BaselinesConfig)
ConfigStore.instance().store(name="evaluate_schema", node=EvaluateConfig)
