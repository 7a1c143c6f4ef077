"""``gainnet-case-study CASE``: train, evaluate and plot one case study end to end.

    gainnet-case-study medical_summarization            # full: ~1 h on 2 cores
    gainnet-case-study vehicular --quick                # a few minutes, to try it out
    gainnet-case-study vehicular --out DIR --jobs 2 --force

1. **Training.** MaskablePPO and SAC, seeds 0, 1, 2, on the case study's
   experiment config (``conf/experiment/<case>.yaml``: its scenario and
   training budget), each an ordinary ``gainnet-train`` run folder
   ``OUT/runs/<agent>_seed<k>/`` trained in a subprocess, ``--jobs`` at a
   time (one torch thread each). In full mode MaskablePPO is also trained
   (seed 0, shorter budget) with the cloud-cost weight scaled, for the
   cost-quality front. A run folder that finished is reused (``--force``
   retrains it); an interrupted one resumes from its last checkpoint, so
   running the same command again after an interrupt continues the study.
2. **Evaluation.** Every agent (the best model of each seed, through
   :func:`gainnet_rl.evaluation.runs.load_policy` and
   :func:`gainnet_rl.evaluation.rollout.evaluate`) and every baseline, on the
   same held-out seeds. Files written into OUT (each figure with the CSV
   behind it; every file written atomically):

   - ``learning_curves.png/.csv``: periodic-evaluation reward against env
     steps, mean and 95% CI over training seeds, baselines as levels;
   - ``qos_vs_load.png/.csv``: deadline-met ratio, mean quality and p95
     latency against the load;
   - ``cost_quality.png/.csv``: mean quality against cloud cost as the
     cloud-cost weight varies, with the Pareto front;
   - ``robustness.png/.csv``: reward and deadline-met ratio per frame over an
     episode in which edge 0 fails, or every edge loses half its compute,
     at half the episode;
   - ``knowledge_flow.png/.csv``: mean served quality per frame with the
     knowledge flow on and off;
   - ``table.md`` (agents beside baselines at load 1.0), ``summary.json``
     (what was run: commands, budgets, seeds, steps reached, wall time).

Default OUT: ``docs/results/<case>/`` (full) and
``runs/case_studies/<case>-quick/`` (``--quick``), relative to the current
directory. Exit codes: 0 done; 1 a training run failed, a run folder holds
another run or lacks its periodic evaluations; 2 bad arguments or an
unreadable saved model; 130 interrupted.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.config import ConfigError, conf_dir, load_scenario
from gainnet_rl.envs.engine import make_params
from gainnet_rl.envs.params import Params
from gainnet_rl.evaluation import runs as run_files
from gainnet_rl.evaluation.comparison import beats
from gainnet_rl.evaluation.rollout import evaluate, trace
from gainnet_rl.evaluation.runs import ModelLoadError
from gainnet_rl.evaluation.tables import format_table, summarize
from gainnet_rl.io import atomic_write_text, save_fig, write_csv, write_json

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
    robustness_baselines: tuple[str, ...] = (
        "greedy_utility",
        "matching",
        "nearest_edge",
        "cloud_only",
    )
    cost_baselines: tuple[str, ...] = ("greedy_utility", "matching")
    knowledge_baselines: tuple[str, ...] = ("greedy_utility",)
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
        agent_train={
            "sac": (
                "agent.learning_starts=2000",
                "agent.buffer_size=20000",
                "agent.gradient_steps=1",
            )
        },
        loads=(0.5, 1.0),
        cost_multipliers=_COST_X,
        cost_train_multipliers=(),
        cost_train=(),
        episodes=5,
        trace_episodes=3,
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
        ),
        agent_train={
            "maskable_ppo": ("agent.n_steps=128", "agent.batch_size=256", "agent.n_epochs=1"),
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
    ),
}

#: status.json values of a run that completed (its budget or its steps).
DONE_STATUSES = ("finished", "stopped_by_max_minutes")
#: prefixes of the overrides a resumed gainnet-train run accepts
RESUMABLE = ("train.", "evaluate.", "torch_threads", "device")


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


# ------------------------------------------------------------------ training


@dataclass
class Run:
    """One training run of the study and its gainnet-train overrides."""

    name: str
    agent: str
    seed: int
    run_dir: Path
    overrides: list[str]
    cost_multiplier: float | None = None  # None: the scenario's own cloud-cost weight
    info: dict[str, Any] = field(default_factory=dict)

    def command(self, resume: bool = False, max_minutes: float | None = None) -> list[str]:
        """The ``python -m gainnet_rl.agents.train ...`` command line."""
        args = list(self.overrides)
        if resume:
            args = [a for a in args if a.startswith(RESUMABLE)]
            args.append(f"train.resume={self.run_dir}")
            if max_minutes is not None:
                args = [a for a in args if not a.startswith("train.max_minutes=")]
                args.append(f"train.max_minutes={max_minutes:.2f}")
        args.append(f"hydra.run.dir={self.run_dir}")
        return [sys.executable, "-m", "gainnet_rl.agents.train", *args]


def plan_runs(case: CaseStudy, budget: Budget, root: Path) -> list[Run]:
    """The study's training runs (folders under ``root``): every agent x seed,
    then the cost-weight runs."""
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
        name = f"maskable_ppo_wcloud{mult:g}x_seed0"
        ov = [
            f"experiment={case.experiment}",
            "agent=maskable_ppo",
            "seed=0",
            f"scenario.reward.w_cloud_cost={mult * w0:g}",
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


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def run_done(run_dir: Path) -> bool:
    """Did gainnet-train finish this run folder (status.json, and a saved model)?"""
    status = _read_json(run_dir / "status.json").get("status")
    has_model = any((run_dir / d / run_files.MODEL_FILE).is_file() for d in ("best", "final"))
    return status in DONE_STATUSES and has_model


def _check_same_run(run: Run, case: CaseStudy, w_cloud: float | None) -> None:
    """Raise CaseStudyError if the folder holds a run of another agent, seed or scenario."""
    cfg = run_files.load_run_config(run.run_dir)
    found = {
        "agent": str(cfg.agent.name),
        "seed": int(cfg.seed),
        "scenario": str(cfg.scenario.name),
    }
    want: dict[str, Any] = {"agent": run.agent, "seed": run.seed, "scenario": case.scenario}
    if w_cloud is not None:
        found["scenario.reward.w_cloud_cost"] = float(cfg.scenario.reward.w_cloud_cost)
        want["scenario.reward.w_cloud_cost"] = w_cloud
    diff = {k: (found[k], v) for k, v in want.items() if found[k] != v}
    if diff:
        what = ", ".join(f"{k}={a!r} (want {b!r})" for k, (a, b) in diff.items())
        raise CaseStudyError(
            f"run folder {run.run_dir} holds another run: {what}; "
            "pass --force to retrain it, or choose another --out"
        )


def _recorded_overrides(run_dir: Path) -> list[str] | None:
    """The overrides the run's first session was started with (command.txt)."""
    try:
        lines = (run_dir / "command.txt").read_text().splitlines()
        i = lines.index("# this job alone:")
        return shlex.split(lines[i + 1])[1:]
    except (OSError, ValueError, IndexError):
        return None


def _each(overrides: Sequence[str]) -> list[str]:
    """Each override as ``key=value`` with a number normalised (``250`` == ``250.0``)."""
    out = []
    for o in overrides:
        key, _, value = o.partition("=")
        try:
            value = repr(float(value))
        except ValueError:
            pass
        out.append(f"{key}={value}")
    return out


def _canonical(overrides: Sequence[str]) -> set[str]:
    """:func:`_each` of the overrides, the last one of a repeated key winning (as in Hydra)."""
    last = {c.partition("=")[0]: c for c in _each(overrides)}
    return set(last.values())


def _remaining_minutes(run: Run) -> float | None:
    """Wall-clock budget left to an interrupted run (None: no budget)."""
    budget = None
    for a in run.overrides:
        if a.startswith("train.max_minutes="):
            v = a.split("=", 1)[1]
            budget = None if v == "null" else float(v)
    if budget is None:
        return None
    ckpt = run_files.latest_checkpoint(run.run_dir)
    used = float(_read_json(ckpt / run_files.STATE_FILE).get("wall_time_s", 0.0)) if ckpt else 0.0
    return max(budget - used / 60.0, 0.05)


def _display(cmd: Sequence[str]) -> str:
    """The command as a user would type it (gainnet-train instead of python -m ...)."""
    args = list(cmd)
    if args[1:3] == ["-m", "gainnet_rl.agents.train"]:
        args = ["gainnet-train", *args[3:]]
    return shlex.join(args)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[k] = "1"
    env["HYDRA_FULL_ERROR"] = "1"
    return env


def train_runs(
    runs: Sequence[Run],
    case: CaseStudy,
    jobs: int,
    force: bool,
    log: Callable[[str], None] = print,
) -> None:
    """Train (or reuse, or resume) every run, ``jobs`` subprocesses at a time.

    Fills each ``run.info`` (command, status, steps, wall time, reused).
    Raises CaseStudyError naming the runs that failed and their logs.
    """
    w0 = default_cloud_weight(case)
    todo: list[tuple[Run, list[str]]] = []
    for run in runs:
        w = None if run.cost_multiplier is None else run.cost_multiplier * w0
        if force:
            if run.run_dir.exists():
                shutil.rmtree(run.run_dir)
            (run.run_dir.parent / f"{run.name}.log").unlink(missing_ok=True)
        fresh = run.command()
        run.info = {"command": _display(fresh), "reused": False}
        if run_done(run.run_dir):
            _check_same_run(run, case, w)
            run.info["reused"] = True
            note = ""
            before = _recorded_overrides(run.run_dir)
            if before is not None and _canonical(before) != _canonical(run.overrides):
                a, b = _canonical(before), _canonical(run.overrides)
                both = [*before, *run.overrides]
                diff = sorted({o for o, c in zip(both, _each(both), strict=True) if c in a ^ b})
                run.info["trained_with_other_overrides"] = diff
                note = f"; trained with other overrides ({' '.join(diff)}): --force retrains"
            log(f"  {run.name}: finished earlier, reused ({run.run_dir}){note}")
            continue
        cmd = fresh
        if (run.run_dir / run_files.CONFIG_FILE).is_file():
            # started earlier: resume (from its last checkpoint, or from step 0 in the
            # same folder if none was written), never delete what it holds
            _check_same_run(run, case, w)
            cmd = run.command(resume=True, max_minutes=_remaining_minutes(run))
            run.info["resumed_with"] = _display(cmd)
        todo.append((run, cmd))
    active: list[tuple[Run, subprocess.Popen, Path, Any, float]] = []
    failed: list[tuple[Run, int, Path]] = []
    logs = runs[0].run_dir.parent if runs else Path(".")
    try:
        while todo or active:
            while todo and len(active) < jobs:
                run, cmd = todo.pop(0)
                logs.mkdir(parents=True, exist_ok=True)
                log_path = logs / f"{run.name}.log"
                fh = open(log_path, "a")  # an earlier session's log stays above this one's
                if fh.tell():
                    fh.write("\n")
                fh.write(f"$ {_display(cmd)}\n")
                fh.flush()
                verb = "resuming" if "resumed_with" in run.info else "training"
                log(f"  {run.name}: {verb} (log {log_path})")
                # own session: a Ctrl-C reaches them once, forwarded below (a second
                # SIGINT would interrupt the checkpoint gainnet-train writes on the first)
                proc = subprocess.Popen(
                    cmd,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    env=_child_env(),
                    start_new_session=True,
                )
                active.append((run, proc, log_path, fh, time.time()))
            time.sleep(0.2)
            still = []
            for item in active:
                run, proc, log_path, fh, t0 = item
                rc = proc.poll()
                if rc is None:
                    still.append(item)
                    continue
                fh.close()
                run.info["launch_wall_time_s"] = round(time.time() - t0, 1)
                if rc != 0:
                    failed.append((run, rc, log_path))
                    log(f"  {run.name}: FAILED (exit {rc}; log {log_path})")
                else:
                    st = _read_json(run.run_dir / "status.json")
                    log(
                        f"  {run.name}: {st.get('status')} at {st.get('num_timesteps')} steps "
                        f"({time.time() - t0:.0f} s)"
                    )
            active = still
    except BaseException:
        # Interrupted (Ctrl-C, or SIGTERM turned into KeyboardInterrupt by main):
        # one SIGINT to each child; gainnet-train writes a checkpoint on it, so
        # the run resumes when the study is started again.
        for _, proc, _, _, _ in active:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for _, proc, _, fh, _ in active:
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            fh.close()
        raise
    for run in runs:
        st = _read_json(run.run_dir / "status.json")
        run.info.update(
            status=st.get("status"),
            num_timesteps=st.get("num_timesteps"),
            train_wall_time_s=st.get("train_wall_time_s"),
            best_timesteps=st.get("best_timesteps"),
        )
    if failed:
        lines = []
        for run, rc, log_path in failed:
            tail = log_path.read_text().strip().splitlines()[-3:] if log_path.is_file() else []
            lines.append(f"{run.name} exited with {rc} (log {log_path}): " + " | ".join(tail))
        raise CaseStudyError("training failed:\n  " + "\n  ".join(lines))


# ------------------------------------------------------------------ evaluation helpers


@dataclass
class Policy:
    """A policy of the study: a trained agent (one seed) or a baseline."""

    name: str  # agent name or baseline name
    kind: str  # "agent" or "baseline"
    make: Callable[[Any], Any]  # evaluate()'s make_policy
    action_mode: str = "discrete"
    observation: str = "flat"
    option_outcomes: bool = True
    seed: int | None = None  # training seed (agents)
    scenario: dict[str, Any] | None = None  # the scenario it was trained on (agents)

    def evaluate(self, params: Params, seeds: Sequence[int]) -> dict[str, np.ndarray]:
        return evaluate(
            self.make, params, seeds, self.action_mode, self.observation, True, self.option_outcomes
        )

    def trace(self, params: Params, seeds: Sequence[int]) -> dict[str, np.ndarray]:
        return trace(
            self.make, params, seeds, self.action_mode, self.observation, True, self.option_outcomes
        )


def load_agent(run_dir: Path) -> Policy:
    """The best model of a run folder, as a :class:`Policy`."""
    policy, cfg, _ = run_files.load_policy(run_dir, "best", device="cpu")
    scen = OmegaConf.to_container(cfg.scenario, resolve=True)
    assert isinstance(scen, dict)
    return Policy(
        str(cfg.agent.name),
        "agent",
        lambda env, p=policy: p,
        str(cfg.agent.action_mode),
        str(cfg.env.observation),
        bool(cfg.env.get("option_outcomes", True)),
        int(cfg.seed),
        scen,
    )


def baseline(name: str) -> Policy:
    cls = HEURISTICS[name]
    return Policy(name, "baseline", lambda env, c=cls: c(env, seed=0))


def stat(x: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
    """(mean, 95% CI low, high), Student t; a single value has no CI (NaN bounds)."""
    a = np.asarray(x, dtype=float)
    if a.size == 1:
        return float(a[0]), math.nan, math.nan
    s = summarize({"x": a})["x"]
    return s["mean"], s["ci_low"], s["ci_high"]


def agent_stat(per_seed: Sequence[np.ndarray]) -> tuple[float, float, float, int, str]:
    """Mean and 95% CI of an agent's metric: over training seeds (the mean of
    each seed's episodes) when there are >= 2, else over the one seed's episodes.
    Returns (mean, low, high, n, what n counts)."""
    if len(per_seed) >= 2:
        m, lo, hi = stat([float(np.mean(x)) for x in per_seed])
        return m, lo, hi, len(per_seed), "training seeds"
    x = np.asarray(per_seed[0], dtype=float)
    m, lo, hi = stat(x)
    return m, lo, hi, x.size, "episodes"


def _grid_and_legend_right(ax: Any) -> None:
    """Light grid, and the legend outside the axes on the right."""
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


AGENT_STYLE = {"lw": 2.2, "ls": "-"}
BASELINE_STYLE = {"lw": 1.2, "ls": "--", "alpha": 0.85}


#: one colour per policy, the same in every figure
_PALETTE = {name: f"C{i}" for i, name in enumerate(["maskable_ppo", "sac", *HEURISTICS]) if i < 10}


def _colors(names: Sequence[str]) -> dict[str, str]:
    spare = iter(f"C{i}" for i in range(10) if f"C{i}" not in _PALETTE.values())
    return {n: _PALETTE.get(n) or next(spare, "k") for n in names}


# ------------------------------------------------------------------ a. learning curves


def _curve(run_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timesteps, reward_mean, reward_ci95) of a run's evaluations.csv."""
    path = run_dir / "evaluations.csv"
    if not path.is_file():
        raise CaseStudyError(f"{path} is missing: the run wrote no periodic evaluation")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise CaseStudyError(f"{run_dir / 'evaluations.csv'} holds no periodic evaluation")
    t = np.array([float(r["timesteps"]) for r in rows])
    order = np.argsort(t, kind="stable")
    col = lambda k: np.array([float(r[k]) for r in rows])[order]
    return t[order], col("reward_mean"), col("reward_ci95")


def learning_curves(
    out: Path,
    agent_runs: Mapping[str, Sequence[Path]],
    params: Params,
    eval_seeds: Sequence[int],
    baselines: Sequence[str],
    case: CaseStudy,
) -> None:
    """``learning_curves.png/.csv``: periodic-evaluation reward (per episode)
    against env steps; mean and 95% CI over training seeds, on the timesteps
    every seed evaluated at (linear interpolation onto a shared grid if they
    share fewer than 2); baselines on the periodic-evaluation seeds as levels."""
    rows: list[dict[str, Any]] = []
    curves: dict[str, tuple[np.ndarray, ...]] = {}
    for agent, dirs in agent_runs.items():
        data = [_curve(d) for d in dirs]
        common = data[0][0]
        for t, _, _ in data[1:]:
            common = np.intersect1d(common, t)
        if common.size < 2:
            lo = max(t[0] for t, _, _ in data)
            hi = min(t[-1] for t, _, _ in data)
            common = np.unique(np.concatenate([t for t, _, _ in data]))
            common = common[(common >= lo) & (common <= hi)]
            if common.size < 2:
                common = np.array([lo, hi]) if hi > lo else np.array([lo])
        ys = np.stack([np.interp(common, t, y) for t, y, _ in data])  # (seeds, points)
        if len(data) >= 2:
            st = [stat(ys[:, j]) for j in range(common.size)]
            mean, low, high = (np.array(v) for v in zip(*st, strict=True))
            n, over = len(data), "training seeds"
        else:  # one seed: the periodic evaluation's own CI over its episodes
            half = np.interp(common, data[0][0], data[0][2])
            mean, low, high = ys[0], ys[0] - half, ys[0] + half
            n, over = len(eval_seeds), "evaluation episodes"
        curves[agent] = (common, mean, low, high)
        for j, t in enumerate(common):
            rows.append(
                {
                    "policy": agent,
                    "kind": "agent",
                    "timesteps": int(t),
                    "n": n,
                    "ci_over": over,
                    "reward_mean": mean[j],
                    "reward_ci_low": low[j],
                    "reward_ci_high": high[j],
                }
            )
    t_all = np.concatenate([c[0] for c in curves.values()])
    x0, x1 = float(t_all.min()), float(t_all.max())
    levels: dict[str, tuple[float, float, float]] = {}
    for name in baselines:
        res = baseline(name).evaluate(params, eval_seeds)
        levels[name] = stat(res["reward"])
        for x in (x0, x1):
            rows.append(
                {
                    "policy": name,
                    "kind": "baseline",
                    "timesteps": int(x),
                    "n": len(eval_seeds),
                    "ci_over": "evaluation episodes",
                    "reward_mean": levels[name][0],
                    "reward_ci_low": levels[name][1],
                    "reward_ci_high": levels[name][2],
                }
            )
    write_csv(out / "learning_curves.csv", rows)

    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.0, 4.8))
    colors = _colors([*curves, *levels])
    for agent, (t, m, lo, hi) in curves.items():
        ax.plot(t, m, color=colors[agent], label=f"{agent} (mean, 95% CI)", **AGENT_STYLE)
        ax.fill_between(t, lo, hi, color=colors[agent], alpha=0.2, lw=0)
    for name, (m, _, _) in levels.items():
        ax.axhline(m, color=colors[name], label=name, **BASELINE_STYLE)
    ax.set_xlabel("env steps (decisions)")
    ax.set_ylabel("mean episode reward (periodic evaluation)")
    ax.set_title(
        f"{case.name}: learning curves (seeds {eval_seeds[0]}..{eval_seeds[-1]})", fontsize=10
    )
    _grid_and_legend_right(ax)
    save_fig(fig, out / "learning_curves.png")


# ------------------------------------------------------------------ b. QoS against load

QOS_METRICS = ("deadline_met_ratio", "mean_quality", "p95_latency_s")
QOS_EXTRA = ("reward", "cloud_cost_usd", "dropped")


def qos_vs_load(
    out: Path,
    agents: Mapping[str, Sequence[Policy]],
    baselines: Sequence[str],
    scenario: Mapping[str, Any],
    loads: Sequence[float],
    seeds: Sequence[int],
    case: CaseStudy,
    log: Callable[[str], None] = print,
) -> dict[tuple[str, float], list[dict[str, np.ndarray]]]:
    """``qos_vs_load.png/.csv``: deadline-met ratio, mean quality and p95
    latency (s) against the load (arrival-rate multiplier). Agents: mean over
    training seeds of each seed's episode mean, 95% CI over seeds; baselines:
    95% CI over episodes. Returns the raw results {(policy, load): [per seed]}."""
    raw: dict[tuple[str, float], list[dict[str, np.ndarray]]] = {}
    for load in loads:
        t0 = time.time()
        for name, pols in agents.items():
            raw[(name, load)] = [
                p.evaluate(make_params(p.scenario or dict(scenario), load), seeds) for p in pols
            ]
        params = make_params(dict(scenario), load)
        for name in baselines:
            raw[(name, load)] = [baseline(name).evaluate(params, seeds)]
        log(f"    load {load:g}: {time.time() - t0:.1f} s")
    rows: list[dict[str, Any]] = []
    for name in [*agents, *baselines]:
        kind = "agent" if name in agents else "baseline"
        for load in loads:
            res = raw[(name, load)]
            row: dict[str, Any] = {"policy": name, "kind": kind, "load": load}
            for m in (*QOS_METRICS, *QOS_EXTRA):
                if kind == "agent":
                    mean, lo, hi, n, over = agent_stat([r[m] for r in res])
                else:
                    (mean, lo, hi), n, over = stat(res[0][m]), len(seeds), "episodes"
                row.update({f"{m}_mean": mean, f"{m}_ci_low": lo, f"{m}_ci_high": hi})
            row.update(n=n, ci_over=over, episodes_per_policy=len(seeds))
            rows.append(row)
    write_csv(out / "qos_vs_load.csv", rows)

    plt = _plt()
    labels = {
        "deadline_met_ratio": "deadline-met ratio",
        "mean_quality": case.quality_label,
        "p95_latency_s": "p95 latency (s)",
    }
    fig, axes = plt.subplots(1, 3, figsize=(14.0, 4.4))
    names = [*agents, *baselines]
    colors = _colors(names)
    for ax, m in zip(axes, QOS_METRICS, strict=True):
        for name in names:
            pts = [r for r in rows if r["policy"] == name]
            x = np.array([r["load"] for r in pts])
            y = np.array([r[f"{m}_mean"] for r in pts])
            err = np.nan_to_num(
                np.stack(
                    [y - [r[f"{m}_ci_low"] for r in pts], [r[f"{m}_ci_high"] for r in pts] - y]
                )
            )
            style = AGENT_STYLE if name in agents else BASELINE_STYLE
            ax.errorbar(
                x,
                y,
                yerr=np.abs(err),
                color=colors[name],
                marker="o",
                ms=3,
                capsize=2,
                label=name,
                **style,
            )
        ax.set_xlabel("load (arrival-rate multiplier)")
        ax.set_ylabel(labels[m])
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(
        f"{case.name}: QoS against load ({len(seeds)} episodes per policy and load; "
        "agents: 95% CI over training seeds)",
        fontsize=10,
    )
    save_fig(fig, out / "qos_vs_load.png")
    return raw


# ------------------------------------------------------------------ c. cost and quality


def pareto(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """(n,) bool: the points no other point dominates (cost <= and quality >=,
    one strictly). Lower cost and higher quality are better."""
    c, q = np.asarray(cost, float)[:, None], np.asarray(quality, float)[:, None]
    dominated = (c.T <= c) & (q.T >= q) & ((c.T < c) | (q.T > q))  # [i, j]: j dominates i
    return ~dominated.any(axis=1)


def cost_quality(
    out: Path,
    agents_at_default: Mapping[str, Sequence[Policy]],
    default_results: Mapping[str, Sequence[Mapping[str, np.ndarray]]],
    cost_agents: Sequence[tuple[float, Policy]],
    baselines: Sequence[str],
    scenario: Mapping[str, Any],
    multipliers: Sequence[float],
    seeds: Sequence[int],
    case: CaseStudy,
) -> None:
    """``cost_quality.png/.csv``: mean quality against cloud cost ($ per
    episode) as ``reward.w_cloud_cost`` varies (x the scenario's value): the
    baselines, which score options with the env's reward model, at every
    weight (one point if their results do not change with it); the agents
    trained at the default weight (one point per seed); agents trained at
    other weights (full mode). The Pareto front spans every point."""
    w0 = float(scenario["reward"]["w_cloud_cost"])
    rows: list[dict[str, Any]] = []

    def row(
        policy: str, kind: str, seed: Any, mult: float, res: Mapping[str, np.ndarray], dep: Any
    ):
        q, c = stat(res["mean_quality"]), stat(res["cloud_cost_usd"])
        rows.append(
            {
                "policy": policy,
                "kind": kind,
                "training_seed": seed,
                "w_cloud_cost_multiplier": mult,
                "w_cloud_cost": mult * w0,
                "weight_dependent": dep,
                "mean_quality_mean": q[0],
                "mean_quality_ci_low": q[1],
                "mean_quality_ci_high": q[2],
                "cloud_cost_usd_mean": c[0],
                "cloud_cost_usd_ci_low": c[1],
                "cloud_cost_usd_ci_high": c[2],
                "reward_mean": float(np.mean(res["reward"])),
                "episodes": len(seeds),
            }
        )

    for name in baselines:
        res = [
            baseline(name).evaluate(
                make_params(dict(scenario), overrides={"reward.w_cloud_cost": m * w0}), seeds
            )
            for m in multipliers
        ]
        same = all(
            np.array_equal(r[k], res[0][k])
            for r in res[1:]
            for k in ("mean_quality", "cloud_cost_usd")
        )
        if same:  # the weight does not change what it does: one point
            default = min(range(len(multipliers)), key=lambda i: abs(multipliers[i] - 1.0))
            row(name, "baseline", "-", multipliers[default], res[default], False)
        else:
            for m, r in zip(multipliers, res, strict=True):
                row(name, "baseline", "-", m, r, True)
    for name, pols in agents_at_default.items():
        for p, res in zip(pols, default_results[name], strict=True):
            row(name, "agent", p.seed, 1.0, res, "-")
    for mult, p in cost_agents:
        assert p.scenario is not None
        res = p.evaluate(make_params(p.scenario), seeds)
        row(f"{p.name} trained at w_cloud x{mult:g}", "agent_cost_weight", p.seed, mult, res, "-")
    front = pareto(
        np.array([r["cloud_cost_usd_mean"] for r in rows]),
        np.array([r["mean_quality_mean"] for r in rows]),
    )
    for r, f in zip(rows, front, strict=True):
        r["pareto"] = bool(f)
    write_csv(out / "cost_quality.csv", rows)

    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.4, 5.0))
    labels = list(dict.fromkeys(r["policy"] for r in rows))
    colors = _colors(labels)
    markers = {"baseline": "o", "agent": "*", "agent_cost_weight": "P"}
    for label in labels:
        pts = [r for r in rows if r["policy"] == label]
        kind = pts[0]["kind"]
        x = [r["cloud_cost_usd_mean"] for r in pts]
        y = [r["mean_quality_mean"] for r in pts]
        text = label
        if kind == "baseline" and pts[0]["weight_dependent"] is False:
            text += " (independent of w_cloud_cost)"
        elif kind == "baseline":
            text += " (x" + ", ".join(f"{r['w_cloud_cost_multiplier']:g}" for r in pts) + ")"
        elif kind == "agent":
            text += " (default weight, per seed)"
        ls = "-" if kind == "baseline" and len(pts) > 1 else "none"
        ax.plot(
            x,
            y,
            color=colors[label],
            marker=markers[kind],
            ms=9 if kind != "baseline" else 5,
            ls=ls,
            lw=0.8,
            label=text,
        )
        if kind == "baseline" and len(pts) > 1:
            at: dict[tuple[float, float], list[str]] = {}  # weights that give the same point
            for r in pts:
                xy = (r["cloud_cost_usd_mean"], r["mean_quality_mean"])
                at.setdefault(xy, []).append(f"{r['w_cloud_cost_multiplier']:g}")
            for xy, ms in at.items():
                ax.annotate(
                    "x" + ",".join(ms), xy, fontsize=6, xytext=(3, 3), textcoords="offset points"
                )
    fx = np.array([r["cloud_cost_usd_mean"] for r in rows])[front]
    fy = np.array([r["mean_quality_mean"] for r in rows])[front]
    order = np.argsort(fx)
    ax.step(fx[order], fy[order], where="post", color="k", lw=1.0, alpha=0.6, label="Pareto front")
    ax.set_xlabel("cloud cost per episode ($)")
    ax.set_ylabel(case.quality_label)
    ax.set_title(
        f"{case.name}: quality against cloud cost as reward.w_cloud_cost varies\n"
        f"(multiples of the scenario's {w0:g} per $; {len(seeds)} episodes per point)",
        fontsize=9,
    )
    _grid_and_legend_right(ax)
    save_fig(fig, out / "cost_quality.png")


# ------------------------------------------------------------------ d./e. per-frame traces


def event_conditions(params: Params) -> dict[str, list[dict[str, Any]]]:
    """The robustness conditions as scenario ``events`` (at half the episode)."""
    half_s = params.episode_slots * params.slot_s / 2
    return {
        "none": [],
        "outage": [{"kind": "outage", "edges": [0], "start_s": half_s, "end_s": None}],
        "compute_cut": [
            {
                "kind": "compute_cut",
                "edges": list(range(params.num_edges)),
                "start_s": half_s,
                "end_s": None,
                "factor": 0.5,
            }
        ],
    }


CONDITION_TITLES = {
    "none": "no event",
    "outage": "edge 0 fails",
    "compute_cut": "every edge at 50% compute",
}


def _pool(traces: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate traces of several policies' seeds along the episode axis."""
    return {k: np.concatenate([t[k] for t in traces]) for k in traces[0] if np.ndim(traces[0][k])}


def play_traces(
    agents: Mapping[str, Sequence[Policy]],
    baselines: Sequence[str],
    scenario: Mapping[str, Any],
    overrides: Mapping[str, Any],
    seeds: Sequence[int],
) -> dict[str, dict[str, np.ndarray]]:
    """Per-frame traces (:func:`trace`) on the scenario with ``overrides``: each
    agent's (the episodes of all its training seeds pooled) and each baseline's."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, pols in agents.items():
        out[name] = _pool(
            [
                p.trace(make_params(p.scenario or dict(scenario), overrides=overrides), seeds)
                for p in pols
            ]
        )
    params = make_params(dict(scenario), overrides=overrides)
    for name in baselines:
        out[name] = baseline(name).trace(params, seeds)
    return out


def robustness(
    out: Path,
    traces: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]],
    kinds: Mapping[str, str],
    params: Params,
    event_s: float,
    case: CaseStudy,
) -> None:
    """``robustness.png/.csv``: reward per frame (reward units per 1 s frame)
    and deadline-met ratio per frame (requests met / finished in the frame),
    under each condition; mean (and 95% CI of the reward) over the episodes of
    every training seed / the baseline's episodes."""
    K = params.frame_slots
    frame_s = K * params.slot_s
    rows: list[dict[str, Any]] = []
    series: dict[tuple[str, str], tuple[np.ndarray, ...]] = {}
    for cond, by_policy in traces.items():
        for name, tr in by_policy.items():
            f = tr
            n_ep, n_fr = f["reward"].shape
            st = [stat(f["reward"][:, j]) for j in range(n_fr)]
            mean, lo, hi = (np.array(v) for v in zip(*st, strict=True))
            finished = (f["served"] + f["dropped"]).sum(axis=0)
            met = np.divide(
                f["met"].sum(axis=0),
                finished,
                out=np.full(n_fr, np.nan),
                where=finished > 0,
            )
            series[(cond, name)] = (mean, lo, hi, met)
            for j in range(n_fr):
                rows.append(
                    {
                        "condition": cond,
                        "policy": name,
                        "kind": kinds[name],
                        "frame": j,
                        "t_start_s": j * frame_s,
                        "episodes": n_ep,
                        "reward_mean": mean[j],
                        "reward_ci_low": lo[j],
                        "reward_ci_high": hi[j],
                        "deadline_met_ratio": met[j],
                        "served_per_episode": f["served"][:, j].mean(),
                        "dropped_per_episode": f["dropped"][:, j].mean(),
                        "event_start_s": event_s if cond != "none" else float("nan"),
                    }
                )
    write_csv(out / "robustness.csv", rows)

    plt = _plt()
    conds = list(traces)
    fig, axes = plt.subplots(2, len(conds), figsize=(4.6 * len(conds), 6.6), sharey="row")
    axes = np.asarray(axes).reshape(2, len(conds))
    names = list(kinds)
    colors = _colors(names)
    for j, cond in enumerate(conds):
        for name in names:
            if (cond, name) not in series:
                continue
            mean, lo, hi, met = series[(cond, name)]
            t = (np.arange(mean.size) + 0.5) * frame_s
            style = AGENT_STYLE if kinds[name] == "agent" else BASELINE_STYLE
            axes[0, j].plot(t, mean, color=colors[name], label=name, **style)
            if kinds[name] == "agent":
                axes[0, j].fill_between(t, lo, hi, color=colors[name], alpha=0.15, lw=0)
            axes[1, j].plot(t, met, color=colors[name], label=name, **style)
        for i in range(2):
            if cond != "none":
                axes[i, j].axvline(event_s, color="k", ls=":", lw=1.2)
            axes[i, j].grid(alpha=0.3)
        axes[0, j].set_title(CONDITION_TITLES.get(cond, cond), fontsize=10)
        axes[1, j].set_xlabel("time (s)")
    axes[0, 0].set_ylabel(f"reward per frame ({frame_s:g} s)")
    axes[1, 0].set_ylabel("deadline-met ratio per frame")
    axes[0, -1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    n_ep = next(iter(next(iter(traces.values())).values()))["reward"].shape[0]
    fig.suptitle(
        f"{case.name}: robustness (event at {event_s:g} s, dotted); agents: episodes of every "
        f"training seed pooled; {n_ep} episodes per agent",
        fontsize=10,
    )
    save_fig(fig, out / "robustness.png")


def knowledge_flow(
    out: Path,
    traces: Mapping[bool, Mapping[str, Mapping[str, np.ndarray]]],
    kinds: Mapping[str, str],
    params: Params,
    case: CaseStudy,
) -> None:
    """``knowledge_flow.png/.csv``: mean quality of the requests served in each
    frame (sum of quality / requests served), knowledge flow on and off."""
    K = params.frame_slots
    frame_s = K * params.slot_s
    rows: list[dict[str, Any]] = []
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.4, 4.6))
    colors = _colors(list(kinds))
    for on, by_policy in traces.items():
        for name, tr in by_policy.items():
            f = tr
            served = f["served"].sum(axis=0)
            q = np.divide(
                f["quality"].sum(axis=0), served, out=np.full(served.size, np.nan), where=served > 0
            )
            for j in range(q.size):
                rows.append(
                    {
                        "knowledge_flow": on,
                        "policy": name,
                        "kind": kinds[name],
                        "frame": j,
                        "t_start_s": j * frame_s,
                        "episodes": f["served"].shape[0],
                        "mean_quality": q[j],
                        "served_per_episode": f["served"][:, j].mean(),
                    }
                )
            t = (np.arange(q.size) + 0.5) * frame_s
            ax.plot(
                t,
                q,
                color=colors[name],
                lw=2.0 if kinds[name] == "agent" else 1.2,
                ls="-" if on else "--",
                label=f"{name}, knowledge flow {'on' if on else 'off'}",
            )
    write_csv(out / "knowledge_flow.csv", rows)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"{case.quality_label} of requests served, per frame")
    ax.set_title(
        f"{case.name}: knowledge flow on (solid) and off (dashed: no sensing or fine-tuning)",
        fontsize=10,
    )
    _grid_and_legend_right(ax)
    save_fig(fig, out / "knowledge_flow.png")


# ------------------------------------------------------------------ table


def table(
    out: Path,
    results: Mapping[str, Sequence[Mapping[str, np.ndarray]]],
    agents: Sequence[str],
    params: Params,
    seeds: Sequence[int],
    case: CaseStudy,
) -> str:
    """``table.md``: every policy at load 1.0; an agent's episodes of all its
    training seeds pooled. Returns the text."""
    summary = {}
    for name, res in results.items():
        pooled = {k: np.concatenate([r[k] for r in res]) for k in res[0]}
        label = f"{name} ({len(res)} seeds)" if name in agents else name
        summary[label] = summarize(pooled)
    head = (
        f"{case.name}: scenario={params.name} load={params.load:g}, {len(seeds)} episodes per "
        f"policy and seed (seeds {seeds[0]}..{seeds[-1]}); agents: best model of each training "
        "seed, episodes pooled; mean ± 95% CI half-width (the verdicts below: the agent's CI over "
        "its training seeds)"
    )
    labels = {name: f"{name} ({len(results[name])} seeds)" for name in agents}
    base = {k: v for k, v in summary.items() if k not in labels.values()}
    verdicts = []
    for name, label in labels.items():
        # the agent's CI over its training seeds (each seed's mean reward), when it has several
        m, lo, hi, n, over = agent_stat([r["reward"] for r in results[name]])
        agent = {"reward": {"mean": m, "ci_low": lo, "ci_high": hi}}
        lost = [k for k, ok in beats({label: agent, **base}, label).items() if not ok]
        ci = f"95% CI over {n} {over}: [{lo:.2f}, {hi:.2f}]"
        verdicts.append(
            f"{name}: mean episode reward above every baseline's 95% CI ({ci})"
            if not lost
            else f"{name}: reward CI ({ci}) not entirely above: {', '.join(lost)}"
        )
    text = "\n".join([head, "", format_table(summary), "", *verdicts]) + "\n"
    atomic_write_text(out / "table.md", text)
    return text


# ------------------------------------------------------------------ the study


def run_case_study(
    case_name: str,
    mode: str = "full",
    out: Path | None = None,
    jobs: int = 2,
    force: bool = False,
    runs_dir: Path | None = None,
    argv: Sequence[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train, evaluate and write every figure of one case study; returns summary.json's data."""
    if case_name not in CASE_STUDIES:
        raise ConfigError(
            f"case study {case_name!r} is unknown: must be one of {list(CASE_STUDIES)}"
        )
    if mode not in BUDGETS:
        raise ConfigError(f"mode {mode!r} is unknown: must be one of {list(BUDGETS)}")
    if not (isinstance(jobs, int) and jobs >= 1):
        raise ConfigError(f"jobs={jobs!r} is invalid: must be an integer >= 1")
    case, budget = CASE_STUDIES[case_name], BUDGETS[mode]
    exp = conf_dir() / "experiment" / f"{case.experiment}.yaml"
    if not exp.is_file():
        raise ConfigError(f"experiment config {exp} is missing: the case study trains with it")
    out_arg = out
    out = Path(out) if out is not None else default_out(case_name, mode)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    runs_dir = Path(runs_dir) if runs_dir is not None else default_runs(case_name, mode, out_arg)
    runs = plan_runs(case, budget, runs_dir)
    log(f"{PROG} {case.name} ({mode}): {len(runs)} training runs, {jobs} at a time -> {out}")
    train_runs(runs, case, jobs, force, log)
    t_trained = time.time()
    # One torch thread: the batches are small, and with the cores shared a
    # multi-threaded forward pass is many times slower (spinning threads).
    import torch

    torch.set_num_threads(1)

    main = [r for r in runs if r.cost_multiplier is None]
    agents: dict[str, list[Policy]] = {}
    for r in main:
        agents.setdefault(r.agent, []).append(load_agent(r.run_dir))
    ref_cfg = run_files.load_run_config(main[0].run_dir)
    scenario = OmegaConf.to_container(ref_cfg.scenario, resolve=True)
    assert isinstance(scenario, dict)
    params = make_params(scenario)
    first = int(ref_cfg.evaluate.first_seed)
    seeds = list(range(first, first + budget.episodes))
    trace_seeds = list(range(first, first + budget.trace_episodes))
    eval_first, eval_n = int(ref_cfg.train.eval_first_seed), int(ref_cfg.train.eval_episodes)
    eval_seeds = list(range(eval_first, eval_first + eval_n))
    names = list(HEURISTICS)

    log("  learning_curves")
    learning_curves(
        out,
        {a: [r.run_dir for r in main if r.agent == a] for a in agents},
        params,
        eval_seeds,
        names,
        case,
    )
    log("  qos_vs_load")
    raw = qos_vs_load(out, agents, names, scenario, budget.loads, seeds, case, log)
    log("  cost_quality")
    cost_agents = [
        (float(r.cost_multiplier), load_agent(r.run_dir))
        for r in runs
        if r.cost_multiplier is not None
    ]
    cost_quality(
        out,
        agents,
        {a: raw[(a, 1.0)] for a in agents},
        cost_agents,
        budget.cost_baselines,
        scenario,
        budget.cost_multipliers,
        seeds,
        case,
    )
    kinds = {a: "agent" for a in agents}
    kinds |= {b: "baseline" for b in (*budget.robustness_baselines, *budget.knowledge_baselines)}
    log("  robustness")
    traces = {
        cond: play_traces(
            agents, budget.robustness_baselines, scenario, {"events": ev}, trace_seeds
        )
        for cond, ev in event_conditions(params).items()
    }
    event_s = params.episode_slots * params.slot_s / 2
    robustness(out, traces, kinds, params, event_s, case)
    log("  knowledge_flow")
    kb = budget.knowledge_baselines
    on = {k: v for k, v in traces["none"].items() if k in agents or k in kb}
    on |= play_traces({}, [b for b in kb if b not in on], scenario, {}, trace_seeds)
    off = play_traces(agents, kb, scenario, {"knowledge_flow": False}, trace_seeds)
    knowledge_flow(out, {True: on, False: off}, kinds, params, case)
    log("  table")
    at1 = {name: raw[(name, 1.0)] for name in [*agents, *names]}
    text = table(out, at1, list(agents), make_params(scenario, 1.0), seeds, case)
    t_end = time.time()

    summary = {
        "case_study": case.name,
        "experiment": case.experiment,
        "scenario": case.scenario,
        "mode": mode,
        "out": str(out),
        "runs_dir": str(runs_dir),
        "command": shlex.join([PROG, *(argv if argv is not None else sys.argv[1:])]),
        "jobs": jobs,
        "settings": asdict(budget),
        "runs": [
            {
                "name": r.name,
                "agent": r.agent,
                "seed": r.seed,
                "w_cloud_cost_multiplier": r.cost_multiplier,
                "run_dir": str(r.run_dir),
                **r.info,
            }
            for r in runs
        ],
        "evaluation": {
            "episodes": budget.episodes,
            "seeds": [seeds[0], seeds[-1]],
            "trace_episodes": budget.trace_episodes,
            "trace_seeds": [trace_seeds[0], trace_seeds[-1]],
            "periodic_eval_seeds": [eval_seeds[0], eval_seeds[-1]],
            "model": "best",
            "loads": list(budget.loads),
            "w_cloud_cost": float(scenario["reward"]["w_cloud_cost"]),
            "cost_multipliers": list(budget.cost_multipliers),
            "event_start_s": event_s,
        },
        "files": sorted(
            p.name for p in out.iterdir() if p.is_file() and not p.name.startswith(".")
        ),
        "wall_time_s": {
            "training": round(t_trained - t_start, 1),
            "evaluation": round(t_end - t_trained, 1),
            "total": round(t_end - t_start, 1),
        },
    }
    if "summary.json" not in summary["files"]:
        summary["files"] = sorted([*summary["files"], "summary.json"])
    write_json(out / "summary.json", summary)
    log(text)
    log(f"{PROG}: done in {t_end - t_start:.0f} s; files in {out}")
    return summary


# ------------------------------------------------------------------ CLI


def _case(value: str) -> str:
    if value not in CASE_STUDIES:
        raise argparse.ArgumentTypeError(
            f"case study {value!r} is unknown: must be one of {list(CASE_STUDIES)}"
        )
    return value


def _jobs(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"--jobs={value!r} is invalid: must be an integer >= 1")
    return n


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit code."""
    ap = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("case", type=_case, help=f"one of {list(CASE_STUDIES)}")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="tiny training budgets and few episodes (a few minutes; default --out "
        "runs/case_studies/<case>-quick)",
    )
    ap.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # the tests'
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default docs/results/<case>; with --quick "
        "runs/case_studies/<case>-quick)",
    )
    ap.add_argument(
        "--runs",
        type=Path,
        default=None,
        help="training run folders (default: OUT/runs with --out, else "
        "runs/case_studies/<case>/runs, or runs/case_studies/<case>-quick/runs with --quick)",
    )
    ap.add_argument(
        "--jobs", type=_jobs, default=2, help="training runs in parallel (default 2), >= 1"
    )
    ap.add_argument(
        "--force", action="store_true", help="retrain the runs in the runs folder (see --runs)"
    )
    args = ap.parse_args(argv)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        ap.error(f"--out={str(args.out)!r} is invalid: it exists and is not a folder")

    def _terminate(signum: int, frame: Any) -> None:  # SIGTERM: stop as on Ctrl-C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        run_case_study(
            args.case,
            mode,
            args.out,
            args.jobs,
            args.force,
            args.runs,
            argv=argv if argv is not None else sys.argv[1:],
        )
    except KeyboardInterrupt:
        print(
            f"\n{PROG}: interrupted; the runs wrote checkpoints. Run the same command again "
            "to continue (finished runs are reused).",
            file=sys.stderr,
        )
        return 130
    except (ConfigError, ModelLoadError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except CaseStudyError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
