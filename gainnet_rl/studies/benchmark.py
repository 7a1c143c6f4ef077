"""Simulator throughput benchmark: ``gainnet-benchmark`` (or ``python scripts/benchmark.py``).

Measures env steps per second of the scalar env (:class:`GainNetEnv`) and of
the natively batched env (:class:`GainNetVectorEnv`) at several batch sizes
on the packaged scenarios, driven by random valid actions (uniform over each
sub-env's action mask, drawn for the whole batch at once). Beside them, in
the same process and run, it measures reference envs: Gymnasium's
``CartPole-v1`` (scalar, through ``gymnasium.make``) and, when the optional
``bench`` extra is installed, mobile-env's medium scenario
(``mobile-medium-central-v0``). Ratios to the references make the numbers
comparable across machines and across load from other processes.

Only the time inside ``step`` (and the scalar envs' ``reset`` at an
episode's end) is counted; drawing the random actions is not. Each timed run
lasts about ``--run-seconds`` of stepping; a configuration's figure is the
median of ``--repeats`` runs (default 5).
Memory per sub-env is the bytes of the batched ``State`` arrays divided by
the batch size.

Writes a JSON report (default ``docs/results/benchmark.json``) and prints a
table. ``--quick`` makes a seconds-long smoke run (numbers not meaningful).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from gainnet_rl.envs.gainnet_env import GainNetEnv
from gainnet_rl.envs.vector_env import GainNetVectorEnv
from gainnet_rl.studies import compile_time

SCENARIOS = ("small", "medium", "large")
NUM_ENVS = (1, 64, 1024)
MOBILE_ENV_ID = "mobile-medium-central-v0"
# Issue 13's targets in env-steps/s on the 2-core reference machine, by
# (scenario, num_envs), None meaning the scalar env.
TARGETS: dict[tuple[str, int | None], float] = {
    ("medium", None): 10_000.0,
    ("medium", 1024): 250_000.0,
    ("large", 1024): 100_000.0,
}
DEFAULT_OUTPUT = Path("docs/results/benchmark.json")


@dataclasses.dataclass
class Budget:
    """How long to measure: each timed run steps until ``run_s`` seconds were
    spent inside ``step`` (at least ``min_steps`` steps), after a warm-up of
    ``warmup_s``; a configuration's figure is the median of ``repeats`` runs."""

    run_s: float = 1.0
    warmup_s: float = 0.3
    repeats: int = 5
    min_steps: int = 3


QUICK = Budget(run_s=0.03, warmup_s=0.01, repeats=3, min_steps=2)


def _valid_random(mask: np.ndarray, rs: np.random.Generator) -> np.ndarray:
    """A uniformly random valid action per row of a (B, N) bool mask."""
    return np.argmax(rs.random(mask.shape, dtype=np.float32) * mask, axis=-1)


def _timed_runs(run_for: Callable[[float, int], tuple[int, float]], budget: Budget) -> list[float]:
    """Warm up, then ``budget.repeats`` timed runs; returns steps/s per run.

    ``run_for(seconds, min_steps)`` steps until ``seconds`` were spent in the
    env (and at least ``min_steps`` steps) and returns (steps, seconds)."""
    run_for(budget.warmup_s, 1)
    rates = []
    for _ in range(budget.repeats):
        steps, elapsed = run_for(budget.run_s, budget.min_steps)
        rates.append(steps / elapsed)
    return rates


def bench_scalar(scenario: str, budget: Budget, seed: int = 0) -> list[float]:
    """Steps/s of the scalar GainNet env, per run."""
    env = GainNetEnv(scenario)
    rs = np.random.default_rng(seed)
    _, info = env.reset(seed=seed)
    mask = info["action_mask"]

    def run_for(seconds: float, min_steps: int) -> tuple[int, float]:
        nonlocal mask
        steps, elapsed = 0, 0.0
        while elapsed < seconds or steps < min_steps:
            a = int(_valid_random(mask, rs))
            t0 = time.perf_counter()
            _, _, terminated, truncated, info = env.step(a)
            if terminated or truncated:
                _, info = env.reset()
            elapsed += time.perf_counter() - t0
            steps += 1
            mask = info["action_mask"]
        return steps, elapsed

    return _timed_runs(run_for, budget)


def bench_batched(scenario: str, num_envs: int, budget: Budget, seed: int = 0) -> list[float]:
    """Env-steps/s (steps x num_envs) of the batched GainNet env, per run."""
    env = GainNetVectorEnv(num_envs, scenario, autoreset_mode=AutoresetMode.SAME_STEP)
    rs = np.random.default_rng(seed)
    _, infos = env.reset(seed=seed)
    mask = infos["action_mask"]

    def run_for(seconds: float, min_steps: int) -> tuple[int, float]:
        nonlocal mask
        steps, elapsed = 0, 0.0
        while elapsed < seconds or steps < min_steps:
            a = _valid_random(mask, rs)
            t0 = time.perf_counter()
            _, _, _, _, infos = env.step(a)
            elapsed += time.perf_counter() - t0
            steps += 1
            mask = infos["action_mask"]
        return steps, elapsed

    return [r * num_envs for r in _timed_runs(run_for, budget)]


def bench_gym(env_id: str, budget: Budget, seed: int = 0) -> list[float]:
    """Steps/s of a Gymnasium env made by id, with pre-drawn random actions."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    actions = [env.action_space.sample() for _ in range(256)]

    def run_for(seconds: float, min_steps: int) -> tuple[int, float]:
        steps, elapsed = 0, 0.0
        while elapsed < seconds or steps < min_steps:
            t0 = time.perf_counter()
            _, _, terminated, truncated, _ = env.step(actions[steps % len(actions)])
            if terminated or truncated:
                env.reset()
            elapsed += time.perf_counter() - t0
            steps += 1
        return steps, elapsed

    return _timed_runs(run_for, budget)


def state_bytes_per_env(scenario: str, num_envs: int = 64) -> float:
    """Bytes of the batched State arrays per sub-env."""
    env = GainNetVectorEnv(num_envs, scenario, autoreset_mode=AutoresetMode.SAME_STEP)
    env.reset(seed=0)
    total = 0
    for f in dataclasses.fields(env.state):
        v = getattr(env.state, f.name)
        total += sum(a.nbytes for a in v.values()) if isinstance(v, dict) else v.nbytes
    return total / num_envs


def ppo_split(
    scenario: str = "medium",
    num_envs: int = 16,
    timesteps: int = 32_768,
    algo: str = "maskable_ppo",
    policy: str = "mlp",
    seed: int = 0,
    torch_threads: int = 1,
) -> dict[str, Any]:
    """Share of PPO training wall time spent inside the env.

    Trains ``algo`` (``maskable_ppo``: sb3-contrib MaskablePPO, or ``ppo``)
    on :class:`GainNetSB3VecEnv` with the training config's rollout and batch
    sizes (n_steps 256, batch 1024, 5 epochs) and ``policy`` ``"mlp"``
    (MlpPolicy, 256-256) or ``"option_scoring"`` (the project's default
    policy, :mod:`gainnet_rl.agents.policies`, with the architecture of
    ``conf/agent/maskable_ppo.yaml``), and times the adapter's
    ``reset``, ``step_wait`` and ``action_masks`` calls against the whole
    ``learn``.
    """
    import torch
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import PPO

    from gainnet_rl.agents.sb3_vec_env import GainNetSB3VecEnv
    from gainnet_rl.envs.config import make_params

    class TimedVecEnv(GainNetSB3VecEnv):
        env_s = 0.0

        def _timed(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                TimedVecEnv.env_s += time.perf_counter() - t0

        def reset(self) -> Any:
            return self._timed(super().reset)

        def step_wait(self) -> Any:
            return self._timed(super().step_wait)

        def env_method(self, method_name: str, *args: Any, **kwargs: Any) -> list[Any]:
            return self._timed(super().env_method, method_name, *args, **kwargs)

    if algo not in ("maskable_ppo", "ppo"):
        raise ValueError(f"algo={algo!r} is invalid: must be 'maskable_ppo' or 'ppo'")
    if torch_threads > 0:
        torch.set_num_threads(torch_threads)
    env = TimedVecEnv(num_envs, make_params(scenario), seed=seed)
    cls = MaskablePPO if algo == "maskable_ppo" else PPO
    if policy == "mlp":
        policy_cls: Any = "MlpPolicy"
        policy_kwargs: dict[str, Any] = {"net_arch": [256, 256]}
        policy_txt = "MlpPolicy [256, 256]"
    elif policy == "option_scoring":
        from gainnet_rl.agents import policies

        policy_cls = (
            policies.MaskableOptionScoringPolicy
            if algo == "maskable_ppo"
            else policies.OptionScoringPolicy
        )
        from omegaconf import OmegaConf

        from gainnet_rl.envs.config import conf_dir

        # the training default's architecture (conf/agent/maskable_ppo.yaml, no defaults list)
        agent_cfg = OmegaConf.load(conf_dir() / "agent" / "maskable_ppo.yaml")
        arch = OmegaConf.to_container(agent_cfg.policy_kwargs.net_arch)
        policy_kwargs = {"net_arch": arch, "layout": policies.flat_layout(env.params)}
        policy_txt = f"{policy_cls.__name__} {arch}"
    else:
        raise ValueError(f"policy={policy!r} is invalid: must be 'mlp' or 'option_scoring'")
    model = cls(
        policy_cls,
        env,
        n_steps=256,
        batch_size=1024,
        n_epochs=5,
        policy_kwargs=policy_kwargs,
        seed=seed,
        device="cpu",
        verbose=0,
    )
    TimedVecEnv.env_s = 0.0
    t0 = time.perf_counter()
    model.learn(total_timesteps=timesteps)
    wall = time.perf_counter() - t0
    steps = int(model.num_timesteps)
    return {
        "algo": algo,
        "policy": policy_txt,
        "scenario": scenario,
        "num_envs": num_envs,
        "timesteps": steps,
        "torch_threads": torch.get_num_threads(),
        "wall_s": wall,
        "env_s": TimedVecEnv.env_s,
        "env_fraction": TimedVecEnv.env_s / wall,
        "steps_per_s": steps / wall,
        "env_steps_per_s_inside_env": steps / max(TimedVecEnv.env_s, 1e-12),
    }


def _mobile_env_available() -> bool:
    try:
        import mobile_env  # noqa: F401
    except ImportError:
        return False
    return MOBILE_ENV_ID in gym.registry


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "gymnasium": gym.__version__,
        "git_commit": commit,
    }


def _fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def _fmt_ratio(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def run(
    scenarios: Sequence[str] = SCENARIOS,
    num_envs: Sequence[int] = NUM_ENVS,
    budget: Budget | None = None,
    mobile_env: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the benchmark; returns the report (see the module docstring)."""
    budget = budget or Budget()
    t_start = time.time()
    refs: dict[str, dict[str, Any]] = {}
    runs = bench_gym("CartPole-v1", budget)
    refs["CartPole-v1"] = {"steps_per_s": statistics.median(runs), "runs": runs}
    log(f"CartPole-v1: {_fmt_rate(refs['CartPole-v1']['steps_per_s'])} steps/s")
    if mobile_env and _mobile_env_available():
        runs = bench_gym(MOBILE_ENV_ID, budget)
        refs[MOBILE_ENV_ID] = {"steps_per_s": statistics.median(runs), "runs": runs}
        log(f"{MOBILE_ENV_ID}: {_fmt_rate(refs[MOBILE_ENV_ID]['steps_per_s'])} steps/s")
    results = []
    for scenario in scenarios:
        configs: list[int | None] = [None, *num_envs]
        mem = state_bytes_per_env(scenario)
        for n in configs:
            runs = (
                bench_scalar(scenario, budget) if n is None else bench_batched(scenario, n, budget)
            )
            rate = statistics.median(runs)
            row: dict[str, Any] = {
                "scenario": scenario,
                "env": "scalar" if n is None else "batched",
                "num_envs": 1 if n is None else n,
                "env_steps_per_s": rate,
                "runs": runs,
                "state_bytes_per_env": mem,
                "ratio_to": {k: rate / v["steps_per_s"] for k, v in refs.items()},
            }
            target = TARGETS.get((scenario, n))
            if target is not None:
                row["target"] = target
                row["target_met"] = bool(rate >= target)
            results.append(row)
            n_txt = f"N={row['num_envs']}"
            log(f"{scenario:>6} {row['env']:>7} {n_txt:<6} {_fmt_rate(rate)} env-steps/s")
    return {
        "machine": _machine(),
        "repeats": budget.repeats,
        "timed": "env.step (and scalar reset at episode end) only; random valid actions",
        "references": refs,
        "results": results,
        "wall_s": time.time() - t_start,
    }


def table(report: dict[str, Any]) -> str:
    """Plain-text table of a report."""
    refs = list(report["references"])
    head = ["scenario", "env", "N", "env-steps/s"] + [f"x {r}" for r in refs]
    head += ["state B/env", "target"]
    rows = [head]
    for r in report["results"]:
        tgt = ""
        if "target" in r:
            tgt = f">= {_fmt_rate(r['target'])} {'met' if r['target_met'] else 'MISSED'}"
        rows.append(
            [
                r["scenario"],
                r["env"],
                str(r["num_envs"]),
                _fmt_rate(r["env_steps_per_s"]),
                *(_fmt_ratio(r["ratio_to"][k]) for k in refs),
                f"{r['state_bytes_per_env']:,.0f}",
                tgt,
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    ref_txt = ", ".join(
        f"{k} {_fmt_rate(v['steps_per_s'])} steps/s" for k, v in report["references"].items()
    )
    m = report["machine"]
    if "compile" in report:
        c = report["compile"]
        lines.append("")
        lines.append(
            f"first steps of a new process: {c['cold_s']:.1f} s with an empty kernel cache, "
            f"{c['warm_s']:.1f} s with the cache (compile {c['compile_s']:.1f} s)"
        )
    lines.append("")
    lines.append(f"references (same run): {ref_txt}")
    lines.append(
        f"machine: {m['cpu']}, {m['cpu_count']} cores, load avg {m['load_avg_1min']}; "
        f"median of {report['repeats']} runs"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="gainnet-benchmark", description="GainNet simulator throughput benchmark."
    )
    ap.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    ap.add_argument("--num-envs", nargs="+", type=int, default=list(NUM_ENVS))
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per configuration")
    ap.add_argument(
        "--run-seconds", type=float, default=None, help="time spent stepping per timed run"
    )
    ap.add_argument("--no-mobile-env", action="store_true", help="skip the mobile-env reference")
    ap.add_argument("--output", type=Path, default=None, help="JSON report path")
    ap.add_argument(
        "--ppo",
        action="store_true",
        help="instead: the share of PPO training time spent in the env (needs torch)",
    )
    ap.add_argument("--ppo-algo", default="maskable_ppo", choices=["maskable_ppo", "ppo"])
    ap.add_argument("--ppo-policy", default="mlp", choices=["mlp", "option_scoring"])
    ap.add_argument("--ppo-scenario", default="medium", choices=SCENARIOS)
    ap.add_argument("--ppo-envs", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--ppo-steps", type=int, default=32_768, help="timesteps per PPO run")
    args = ap.parse_args(argv)
    command = " ".join(["gainnet-benchmark", *(argv if argv is not None else sys.argv[1:])])
    if args.ppo:
        return _main_ppo(args, command)
    args.output = args.output or DEFAULT_OUTPUT
    budget = dataclasses.replace(QUICK if args.quick else Budget())
    if args.repeats is not None:
        if args.repeats < 1:
            ap.error(f"--repeats={args.repeats} is invalid: must be >= 1")
        budget.repeats = args.repeats
    if args.run_seconds is not None:
        if not args.run_seconds > 0:
            ap.error(f"--run-seconds={args.run_seconds} is invalid: must be > 0")
        budget.run_s = args.run_seconds
    if any(n < 1 for n in args.num_envs):
        ap.error(f"--num-envs={args.num_envs} is invalid: each must be >= 1")
    report = run(args.scenarios, args.num_envs, budget, mobile_env=not args.no_mobile_env)
    report["command"] = " ".join(
        ["gainnet-benchmark", *(argv if argv is not None else sys.argv[1:])]
    )
    report["quick"] = bool(args.quick)
    if not args.quick:  # two fresh processes: an empty kernel cache, then the same one
        report["compile"] = compile_time.measure()
    print()
    print(table(report))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.output}")
    return 0


def _main_ppo(args: argparse.Namespace, command: str) -> int:
    steps = 2_048 if args.quick else args.ppo_steps
    runs = []
    for n in args.ppo_envs:
        r = ppo_split(args.ppo_scenario, n, steps, args.ppo_algo, args.ppo_policy)
        runs.append(r)
        print(
            f"{r['algo']} ({r['policy']}) on {r['scenario']}, {n} envs, {r['timesteps']} steps: "
            f"wall {r['wall_s']:.1f} s, env {r['env_s']:.1f} s = {100 * r['env_fraction']:.1f}% "
            f"({r['steps_per_s']:,.0f} steps/s overall)"
        )
    out = args.output or DEFAULT_OUTPUT.with_name("ppo_split.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"machine": _machine(), "command": command, "runs": runs}
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
