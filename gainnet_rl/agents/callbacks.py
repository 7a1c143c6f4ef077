"""SB3 callbacks of the training CLI: network KPIs, periodic evaluation, atomic
checkpoints and a wall-clock budget.

TensorBoard keys written here (besides SB3's ``rollout/``, ``train/``, ``time/``):

- ``network/<kpi>``: mean over the episodes that ended since the last
  rollout: ``deadline_met_ratio``, ``p95_latency_s``, ``mean_latency_s``,
  ``mean_quality``, ``energy_j``, ``cloud_cost_usd``, ``dropped``,
  ``served``, ``rejected``, ``invalid_actions``, ``pending``; and, averaged
  over the rollout's steps, the backlogs ``edge_backlog_s``,
  ``cloud_backlog_s``, ``uplink_backlog_s`` and ``edge_utilization``.
- ``eval/<kpi>``: mean over the periodic evaluation episodes (fixed seeds),
  and ``eval/reward_ci95`` the half-width of its 95% confidence interval.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnvWrapper

from gainnet_rl.agents.sb3_vec_env import GainNetSB3VecEnv
from gainnet_rl.envs.params import Params
from gainnet_rl.evaluation import runs
from gainnet_rl.evaluation.rollout import evaluate
from gainnet_rl.evaluation.tables import summarize

#: Episode KPIs logged under ``network/`` (keys of ``info["episode_metrics"]``).
EPISODE_KPIS = (
    "deadline_met_ratio",
    "p95_latency_s",
    "mean_latency_s",
    "mean_quality",
    "energy_j",
    "cloud_cost_usd",
    "dropped",
    "served",
    "rejected",
    "invalid_actions",
    "pending",
)
#: Per-step KPIs (keys of the vector env's step info) averaged over a rollout.
STEP_KPIS = ("edge_backlog_s", "cloud_backlog_s", "uplink_backlog_s", "edge_utilization")


def gainnet_vec_env(env: Any, required: bool = True) -> GainNetSB3VecEnv | None:
    """The GainNetSB3VecEnv under any VecEnv wrappers (VecNormalize, ...); with
    ``required=False``, None if there is none (the generalist's DummyVecEnv)."""
    while isinstance(env, VecEnvWrapper):
        env = env.venv
    if not isinstance(env, GainNetSB3VecEnv):
        if not required:
            return None
        raise TypeError(f"expected a GainNetSB3VecEnv under the wrappers, got {type(env)!r}")
    return env


class NetworkKPICallback(BaseCallback):
    """Log the network KPIs of each rollout under ``network/`` (see module docstring)."""

    def __init__(self, prefix: str = "network") -> None:
        super().__init__()
        self.prefix = prefix
        self._episodes: list[dict[str, float]] = []
        self._step_sums = dict.fromkeys(STEP_KPIS, 0.0)
        self._steps = 0

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            m = info.get("episode_metrics")
            if m is not None:
                self._episodes.append(m)
        venv = gainnet_vec_env(self.training_env, required=False)
        infos = self.locals.get("infos", ())
        for k in STEP_KPIS:
            if venv is not None:
                if k in venv.last_info:
                    self._step_sums[k] += float(np.mean(venv.last_info[k]))
            else:  # scalar sub-envs: the per-step KPIs are in each info
                vals = [i[k] for i in infos if k in i]
                if vals:
                    self._step_sums[k] += float(np.mean(vals))
        self._steps += 1
        return True

    def _on_rollout_end(self) -> None:
        if self._episodes:
            for k in EPISODE_KPIS:
                vals = [m[k] for m in self._episodes if k in m]
                if vals:
                    self.logger.record(f"{self.prefix}/{k}", float(np.mean(vals)))
            self.logger.record(f"{self.prefix}/episodes", len(self._episodes))
            self._episodes.clear()
        if self._steps:
            for k, v in self._step_sums.items():
                self.logger.record(f"{self.prefix}/{k}", v / self._steps)
            self._step_sums = dict.fromkeys(STEP_KPIS, 0.0)
            self._steps = 0


class RunState:
    """Mutable training state shared by the callbacks and saved in checkpoints."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        d = dict(data or {})
        self.best_mean_reward: float = float(d.get("best_mean_reward", -np.inf))
        self.best_timesteps: int = int(d.get("best_timesteps", -1))
        self.last_eval_timesteps: int = int(d.get("last_eval_timesteps", 0))
        self.last_checkpoint_timesteps: int = int(d.get("last_checkpoint_timesteps", 0))
        self.sessions: int = int(d.get("sessions", 0))
        self._wall_before = float(d.get("wall_time_s", 0.0))  # earlier sessions
        self._t0 = time.time()

    @property
    def wall_before_s(self) -> float:
        """Training wall time of the earlier sessions (from the checkpoint resumed)."""
        return self._wall_before

    def start_session(self) -> None:
        """Start this session's wall clock (call just before training)."""
        self._t0 = time.time()

    @property
    def wall_time_s(self) -> float:
        """Training wall time over all sessions so far."""
        return self._wall_before + time.time() - self._t0

    def to_dict(self) -> dict[str, Any]:
        return {
            "best_mean_reward": self.best_mean_reward
            if np.isfinite(self.best_mean_reward)
            else None,
            "best_timesteps": self.best_timesteps,
            "last_eval_timesteps": self.last_eval_timesteps,
            "last_checkpoint_timesteps": self.last_checkpoint_timesteps,
            "wall_time_s": self.wall_time_s,
            "sessions": self.sessions,
        }


class PeriodicEvalCallback(BaseCallback):
    """Every ``eval_freq`` env steps, evaluate the deterministic policy on fixed
    seeds with :func:`evaluate`, log ``eval/`` KPIs, append a row to
    ``evaluations.csv`` and save ``best/`` when the mean reward improves.

    Args:
        run_dir: the run folder.
        params, action_mode, observation, option_outcomes: the evaluation env.
        seeds: evaluation seeds (disjoint from training seeds).
        eval_freq: env steps between evaluations.
        state: the shared :class:`RunState`.
        meta: written to ``best/meta.json``.
    """

    def __init__(
        self,
        run_dir: Path,
        params: Params,
        action_mode: str,
        observation: str,
        seeds: Sequence[int],
        eval_freq: int,
        state: RunState,
        meta: dict[str, Any],
        option_outcomes: bool = True,
    ) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.option_outcomes = bool(option_outcomes)
        self.params = params
        self.action_mode = action_mode
        self.observation = observation
        self.seeds = list(seeds)
        self.eval_freq = int(eval_freq)
        self.state = state
        self.meta = meta

    def _on_step(self) -> bool:
        if self.num_timesteps - self.state.last_eval_timesteps >= self.eval_freq:
            self.run_eval()
        return True

    def run_eval(self) -> dict[str, dict[str, float]]:
        self.state.last_eval_timesteps = self.num_timesteps
        vecnorm = runs.unwrap_vecnormalize(self.model.get_env())
        policy = runs.LearnedPolicy(self.model, vecnorm)
        results = evaluate(
            lambda env: policy,
            self.params,
            self.seeds,
            self.action_mode,
            self.observation,
            True,
            self.option_outcomes,
        )
        summ = summarize(results)
        for k in ("reward", *EPISODE_KPIS):
            if k in summ:
                self.logger.record(f"eval/{k}", summ[k]["mean"])
        self.logger.record("eval/reward_ci95", summ["reward"]["half_width"])
        mean = summ["reward"]["mean"]
        improved = mean > self.state.best_mean_reward
        if improved:
            self.state.best_mean_reward = mean
            self.state.best_timesteps = self.num_timesteps
            runs.save_model_dir(self.run_dir / "best", self.model, self.meta)
        self.logger.record("eval/best_reward", self.state.best_mean_reward)
        self._append_csv(summ, improved)
        self.logger.dump(self.num_timesteps)
        return summ

    def _append_csv(self, summ: dict[str, dict[str, float]], improved: bool) -> None:
        path = self.run_dir / "evaluations.csv"
        row = {
            "timesteps": self.num_timesteps,
            "wall_time_s": round(self.state.wall_time_s, 1),
            "reward_mean": summ["reward"]["mean"],
            "reward_ci95": summ["reward"]["half_width"],
            **{f"{k}_mean": summ[k]["mean"] for k in EPISODE_KPIS if k in summ},
            "best": int(improved),
        }
        new = not path.is_file()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)


class CheckpointCallback(BaseCallback):
    """Every ``checkpoint_freq`` env steps, write an atomic checkpoint (model,
    VecNormalize statistics, replay buffer if asked, :class:`RunState`)."""

    def __init__(
        self,
        run_dir: Path,
        checkpoint_freq: int,
        state: RunState,
        keep: int = 2,
        replay_buffer: bool = True,
    ) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.checkpoint_freq = int(checkpoint_freq)
        self.state = state
        self.keep = keep
        self.replay_buffer = replay_buffer

    def _on_step(self) -> bool:
        if self.num_timesteps - self.state.last_checkpoint_timesteps >= self.checkpoint_freq:
            self.save()
        return True

    def save(self) -> Path:
        self.state.last_checkpoint_timesteps = self.num_timesteps
        return runs.save_checkpoint(
            self.run_dir,
            self.model,
            self.state.to_dict(),
            replay_buffer=self.replay_buffer,
            keep=self.keep,
        )


class WallClockCallback(BaseCallback):
    """Stop training (``learn`` returns) once ``max_minutes`` of wall time have passed."""

    def __init__(self, max_minutes: float) -> None:
        super().__init__()
        self.max_s = float(max_minutes) * 60.0
        self.stopped = False

    def _on_training_start(self) -> None:
        self._t0 = time.time()

    def _on_step(self) -> bool:
        if time.time() - self._t0 >= self.max_s:
            self.stopped = True
            return False
        return True
