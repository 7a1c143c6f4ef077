"""What a case study runs: scenario, budgets, training runs and the Hydra sweeps that train them.

A :class:`Budget` is a set of ``gainnet-train`` overrides; :func:`plan_runs`
turns a case study and a budget into :class:`Run` folders, and
:func:`plan_sweeps` groups the runs into ``gainnet-train -m`` sweeps (the
runs that share every override but ``agent``, ``seed`` and the cloud-cost
weight), each launched by a Hydra launcher (:mod:`.launch`).
"""

from __future__ import annotations

import itertools
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.envs.config import ConfigError, load_scenario

PROG = "gainnet-case-study"

# ------------------------------------------------------------------ settings


@dataclass(frozen=True)
class CaseStudy:
    """A case study: its Hydra experiment, scenario and how its quality reads."""

    name: str
    experiment: str  # conf/experiment/<experiment>.yaml
    scenario: str  # conf/scenario/<scenario>.yaml (selected by the experiment)
    quality_label: str  # axis label of mean_quality


CASE_STUDIES: dict[str, CaseStudy] = {
    c.name: c
    for c in (
        CaseStudy(
            "medical_summarization", "medical_summarization", "medical", "mean ROUGE-L (/100)"
        ),
        CaseStudy("vehicular", "vehicular", "vehicular", "mean quality"),
    )
}


@dataclass(frozen=True)
class Budget:
    """What one mode of the study runs.

    Budgets are gainnet-train overrides; ``train.max_minutes`` is wall-clock
    minutes per run, ``train.total_timesteps`` env steps (decisions).
    """

    mode: str
    agents: tuple[str, ...]  # agent configs (conf/agent/)
    seeds: tuple[int, ...]  # training seeds of every agent
    train: tuple[str, ...]  # overrides of every main run
    agent_train: Mapping[str, tuple[str, ...]]  # extra overrides per agent
    loads: tuple[float, ...]  # arrival-rate multipliers of qos_vs_load (must hold 1.0)
    cost_multipliers: tuple[float, ...]  # x the scenario's reward.w_cloud_cost, for baselines
    cost_train_multipliers: tuple[float, ...]  # MaskablePPO retrained (seed 0) at these
    cost_train: tuple[str, ...]  # overrides of those runs
    episodes: int  # evaluation episodes per policy and setting (qos, cost, table), >= 2
    trace_episodes: int  # episodes per policy of robustness and knowledge_flow (K)
    #: baselines of figures c-e; greedy_best_plan and adaptive_plan (the strongest)
    #: search their plans again for every event, cost weight and knowledge-flow setting
    robustness_baselines: tuple[str, ...] = (
        "greedy_best_plan",
        "adaptive_plan",
        "greedy_utility",
        "matching",
        "nearest_edge",
        "cloud_only",
    )
    cost_baselines: tuple[str, ...] = (
        "greedy_best_plan",
        "adaptive_plan",
        "greedy_utility",
        "matching",
    )
    knowledge_baselines: tuple[str, ...] = ("greedy_best_plan", "adaptive_plan", "greedy_utility")
    #: overrides of every run (main and cost): one torch thread, no progress bar,
    #: the run's own end-of-run table without baselines (the study evaluates
    #: them), no replay buffer in checkpoints (SAC's is ~300 MB), one checkpoint.
    common: tuple[str, ...] = (
        "torch_threads=1",
        "train.progress_bar=false",
        "evaluate.baselines=[]",
        "train.save_replay_buffer=false",
        "train.keep_checkpoints=1",
    )

    def __post_init__(self) -> None:
        if 1.0 not in self.loads:
            raise ConfigError(f"loads={self.loads} is invalid: must hold 1.0 (the table's load)")
        if any(not (x >= 0) for x in (*self.loads, *self.cost_multipliers)):
            raise ConfigError("loads and cost multipliers are invalid: must all be >= 0")
        if self.episodes < 2 or self.trace_episodes < 1:
            raise ConfigError(
                f"episodes={self.episodes}, trace_episodes={self.trace_episodes} are invalid: "
                "must be >= 2 and >= 1"
            )
        unknown = [
            b
            for b in (*self.robustness_baselines, *self.cost_baselines, *self.knowledge_baselines)
            if b not in HEURISTICS
        ]
        if unknown:
            raise ConfigError(f"baselines {unknown} unknown: must be among {list(HEURISTICS)}")


_LOADS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
#: figures c-e of the quick and tiny budgets without greedy_best_plan and
#: adaptive_plan, whose plan searches would run again for every event, weight
#: and setting
_WITHOUT_PLAN_SEARCH: dict[str, Any] = {
    "robustness_baselines": ("greedy_utility", "matching", "nearest_edge", "cloud_only"),
    "cost_baselines": ("greedy_utility", "matching"),
    "knowledge_baselines": ("greedy_utility",),
}
_COST_X = (0.0, 0.25, 1.0, 4.0, 16.0)

BUDGETS: dict[str, Budget] = {
    # 6 runs x 12 min at 2 jobs = 36 min, + 2 x 6 min = 42 min of training
    "full": Budget(
        mode="full",
        agents=("maskable_ppo", "sac"),
        seeds=(0, 1, 2),
        train=("train.max_minutes=12",),
        agent_train={},
        loads=_LOADS,
        cost_multipliers=_COST_X,
        cost_train_multipliers=(0.25, 4.0),
        cost_train=("train.max_minutes=6",),
        episodes=50,
        trace_episodes=20,
    ),
    "quick": Budget(
        mode="quick",
        agents=("maskable_ppo", "sac"),
        seeds=(0, 1, 2),
        train=(
            "train.total_timesteps=8192",
            "train.max_minutes=3",
            "train.eval_freq=2048",
            "train.eval_episodes=5",
            "train.checkpoint_freq=4096",
            "evaluate.episodes=5",
        ),
        # the plan prior's search (~0.5 min per run on these 4-edge scenarios) skipped
        agent_train={
            "maskable_ppo": ("agent.policy_kwargs.plan_prior=default",),
            "sac": (
                "agent.learning_starts=2000",
                "agent.buffer_size=20000",
                "agent.gradient_steps=1",
            ),
        },
        loads=(0.5, 1.0),
        cost_multipliers=_COST_X,
        cost_train_multipliers=(),
        cost_train=(),
        episodes=5,
        trace_episodes=3,
        **_WITHOUT_PLAN_SEARCH,
    ),
    # the test suite's: one seed per agent, the smallest runs that still learn a step
    "tiny": Budget(
        mode="tiny",
        agents=("maskable_ppo", "sac"),
        seeds=(0,),
        train=(
            "train.total_timesteps=2048",
            "train.max_minutes=2",
            "train.eval_freq=1024",
            "train.eval_episodes=2",
            "train.checkpoint_freq=1024",
            "evaluate.episodes=2",
            "env.num_envs=8",
            "scenario.episode_slots=200",  # 20 s episodes: the plumbing, not v2's 60 s
        ),
        agent_train={
            "maskable_ppo": (
                "agent.n_steps=128",
                "agent.batch_size=256",
                "agent.n_epochs=1",
                "agent.policy_kwargs.plan_prior=default",
            ),
            "sac": (
                "agent.learning_starts=1024",
                "agent.buffer_size=4096",
                "agent.batch_size=64",
                "agent.gradient_steps=1",
            ),
        },
        loads=(0.5, 1.0),
        cost_multipliers=(0.0, 1.0, 16.0),
        cost_train_multipliers=(),
        cost_train=(),
        episodes=2,
        trace_episodes=2,
        **_WITHOUT_PLAN_SEARCH,
    ),
}


class CaseStudyError(RuntimeError):
    """A training run failed, or a run folder holds another run."""


def default_out(case: str, mode: str) -> Path:
    """``docs/results/<case>`` (full) or ``runs/case_studies/<case>-<mode>``."""
    return (
        Path("docs/results") / case if mode == "full" else Path(f"runs/case_studies/{case}-{mode}")
    )


def default_runs(case: str, mode: str, out: Path | None) -> Path:
    """Training run folders: ``OUT/runs`` when ``--out`` is given, else
    ``runs/case_studies/<case>/runs`` (full: models and TensorBoard logs stay
    out of docs/) or ``runs/case_studies/<case>-<mode>/runs``."""
    if out is not None:
        return Path(out) / "runs"
    if mode == "full":
        return Path(f"runs/case_studies/{case}/runs")
    return default_out(case, mode) / "runs"


# ------------------------------------------------------------------ runs

#: the overrides a sweep varies (every other override is shared by its runs)
SWEPT = ("agent", "seed", "scenario.reward.w_cloud_cost")


@dataclass
class Run:
    """One training run of the study: its folder and its gainnet-train overrides."""

    name: str  # the folder's name: hydra.sweep.subdir of its sweep
    agent: str
    seed: int
    run_dir: Path
    overrides: list[str]
    cost_multiplier: float | None = None  # None: the scenario's own cloud-cost weight
    info: dict[str, Any] = field(default_factory=dict)

    def value(self, key: str) -> str | None:
        """The (last) value this run's overrides give ``key``, as written."""
        found = None
        for o in self.overrides:
            k, _, v = o.partition("=")
            if k == key:
                found = v
        return found

    def command(self) -> str:
        """The equivalent single ``gainnet-train`` command line (for the summary)."""
        return shlex.join(["gainnet-train", *self.overrides])


def weight_text(w: float) -> str:
    """A cloud-cost weight as the override and the folder name write it: a float
    literal of 6 significant digits (Hydra parses it back to the same float,
    and ``${scenario.reward.w_cloud_cost}`` prints it the same way)."""
    return repr(float(f"{w:.6g}"))


def plan_runs(case: CaseStudy, budget: Budget, root: Path) -> list[Run]:
    """The study's training runs (folders under ``root``): every agent x seed,
    then the cost-weight runs (MaskablePPO, seed 0)."""
    runs: list[Run] = []
    for agent in budget.agents:
        for seed in budget.seeds:
            name = f"{agent}_seed{seed}"
            ov = [
                f"experiment={case.experiment}",
                f"agent={agent}",
                f"seed={seed}",
                *budget.common,
                *budget.train,
                *budget.agent_train.get(agent, ()),
            ]
            runs.append(Run(name, agent, seed, root / name, ov))
    w0 = default_cloud_weight(case)
    for mult in budget.cost_train_multipliers:
        w = weight_text(mult * w0)
        name = f"maskable_ppo_wcloud{w}_seed0"
        ov = [
            f"experiment={case.experiment}",
            "agent=maskable_ppo",
            "seed=0",
            f"scenario.reward.w_cloud_cost={w}",
            *budget.common,
            *budget.train,
            *budget.agent_train.get("maskable_ppo", ()),
            *budget.cost_train,
        ]
        runs.append(Run(name, "maskable_ppo", 0, root / name, ov, cost_multiplier=mult))
    return runs


def default_cloud_weight(case: CaseStudy) -> float:
    """The scenario's ``reward.w_cloud_cost`` (reward per $)."""
    return float(load_scenario(case.scenario)["reward"]["w_cloud_cost"])


# ------------------------------------------------------------------ sweeps


@dataclass
class Sweep:
    """One ``gainnet-train -m`` sweep: runs sharing every override but :data:`SWEPT`."""

    runs: list[Run]
    shared: list[str]  # the overrides every run of the sweep has
    swept: dict[str, list[str]]  # key -> the values the sweep takes (comma-joined on the CLI)

    @property
    def subdir(self) -> str:
        """``hydra.sweep.subdir``: the run's folder name from its config."""
        w = (
            "_wcloud${scenario.reward.w_cloud_cost}"
            if "scenario.reward.w_cloud_cost" in (self.swept)
            else ""
        )
        return "${agent.name}" + w + "_seed${seed}"

    @property
    def name(self) -> str:
        """A label for the sweep's log file (unique among a study's sweeps)."""
        if len(self.runs) == 1:
            return f"sweep_{self.runs[0].name}"
        agents = "+".join(self.swept["agent"])
        return f"sweep_{agents}" + (
            "_wcloud" if "scenario.reward.w_cloud_cost" in self.swept else ""
        )

    def overrides(self) -> list[str]:
        """The sweep's overrides: the shared ones and ``key=v1,v2,...`` per swept key."""
        return [*self.shared, *(f"{k}={','.join(v)}" for k, v in self.swept.items())]


def plan_sweeps(runs: Sequence[Run]) -> list[Sweep]:
    """Group runs into sweeps: runs with the same overrides outside :data:`SWEPT`
    form one sweep when they are exactly the product of their swept values
    (else each run is a sweep of its own)."""
    groups: dict[tuple[str, ...], list[Run]] = {}
    for run in runs:
        shared = tuple(o for o in run.overrides if o.partition("=")[0] not in SWEPT)
        groups.setdefault(shared, []).append(run)
    sweeps: list[Sweep] = []
    for shared, members in groups.items():
        keys = [k for k in SWEPT if any(r.value(k) is not None for r in members)]
        values = {k: list(dict.fromkeys(str(r.value(k)) for r in members)) for k in keys}
        combos = {tuple(str(r.value(k)) for k in keys) for r in members}
        product = set(itertools.product(*values.values()))
        if combos == product and len(combos) == len(members):
            sweeps.append(Sweep(list(members), list(shared), values))
        else:
            for r in members:
                sweeps.append(Sweep([r], list(shared), {k: [str(r.value(k))] for k in keys}))
    return sweeps


#: Hydra launchers a study can run its sweeps on (``--launcher``), see conf/hydra/launcher/
LAUNCHERS = ("local", "ray_local", "submitit_local", "ray_cluster", "slurm")


def launcher_overrides(launcher: str, jobs: int) -> list[str]:
    """The Hydra overrides that select ``launcher`` with ``jobs`` runs at a time
    (on this machine; a cluster launcher takes its parallelism from the cluster)."""
    if launcher not in LAUNCHERS:
        raise ConfigError(f"launcher={launcher!r} is unknown: must be one of {list(LAUNCHERS)}")
    out = [f"hydra/launcher={launcher}"]
    if launcher == "local":
        out.append(f"hydra.launcher.n_jobs={jobs}")
    elif launcher == "ray_local":
        out.append(f"hydra.launcher.ray.init.num_cpus={jobs}")
    return out


def sweep_command(sweep: Sweep, root: Path, launcher: str, jobs: int) -> list[str]:
    """The ``python -m gainnet_rl.agents.train -m ...`` command that trains (or
    reuses, or resumes: ``train.reuse=true``) every run of ``sweep`` under ``root``."""
    return [
        sys.executable,
        "-m",
        "gainnet_rl.agents.train",
        "-m",
        *sweep.overrides(),
        "train.reuse=true",
        *launcher_overrides(launcher, jobs),
        f"hydra.sweep.dir={root}",
        f"hydra.sweep.subdir={sweep.subdir}",
    ]
