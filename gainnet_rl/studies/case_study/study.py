"""The whole study: train (:mod:`.launch`), evaluate (:mod:`.measure`), and write
every figure (:mod:`.figures`, :mod:`.traces`) and summary.json."""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.envs.config import ConfigError, conf_dir, make_params
from gainnet_rl.evaluation import runs as run_files
from gainnet_rl.io import write_json
from gainnet_rl.studies.case_study.figures import cost_quality, learning_curves, qos_vs_load
from gainnet_rl.studies.case_study.launch import train_runs
from gainnet_rl.studies.case_study.measure import Policy, event_conditions, load_agent, play_traces
from gainnet_rl.studies.case_study.plan import (
    BUDGETS,
    CASE_STUDIES,
    LAUNCHERS,
    PROG,
    default_out,
    default_runs,
    plan_runs,
)
from gainnet_rl.studies.case_study.traces import knowledge_flow, robustness, table


def run_case_study(
    case_name: str,
    mode: str = "full",
    out: Path | None = None,
    jobs: int = 2,
    force: bool = False,
    runs_dir: Path | None = None,
    launcher: str = "local",
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
    if launcher not in LAUNCHERS:
        raise ConfigError(f"launcher={launcher!r} is unknown: must be one of {list(LAUNCHERS)}")
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
    log(f"{PROG} {case.name} ({mode}): {len(runs)} training runs on {launcher} -> {out}")
    sweeps = train_runs(runs, case, jobs, force, log, launcher)
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
        "launcher": launcher,
        "sweeps": sweeps,
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
