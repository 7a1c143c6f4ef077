"""The training, evaluation and report CLIs end to end, with tiny budgets.

Every run here trains for a few hundred steps: the point is the plumbing
(run folders, checkpoints, resume, multirun, tables, errors), not learning.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gainnet_rl.agents.train import best_validation_reward

BIN = Path(sys.executable).parent

#: Overrides that make any agent train for a few seconds.
TINY = [
    "train.total_timesteps=256",
    "env.num_envs=4",
    "train.eval_freq=128",
    "train.eval_episodes=2",
    "train.checkpoint_freq=128",
    "train.progress_bar=false",
    "evaluate.episodes=2",
    "evaluate.baselines=[greedy_utility]",
]
TINY_AGENT = {
    # plumbing tests: the plan prior on the default plan, not greedy_best_plan's (its
    # search would run in every CLI call; tests/test_agents.py checks that prior)
    "maskable_ppo": [
        "agent.n_steps=32",
        "agent.batch_size=64",
        "agent.n_epochs=1",
        "agent.policy_kwargs.plan_prior=default",
    ],
    "ppo": ["agent.n_steps=32", "agent.batch_size=64", "agent.n_epochs=1"],
    "sac": [
        "agent.learning_starts=64",
        "agent.buffer_size=2000",
        "agent.batch_size=32",
        "agent.gradient_steps=1",
    ],
}


def run_cli(name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [str(BIN / name), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def train_cli(run_dir: Path, agent: str, *extra: str) -> subprocess.CompletedProcess:
    return run_cli(
        "gainnet-train",
        f"agent={agent}",
        *TINY,
        *TINY_AGENT[agent],
        f"hydra.run.dir={run_dir}",
        *extra,
        cwd=run_dir.parent,
    )


def _ok(res: subprocess.CompletedProcess) -> None:
    assert res.returncode == 0, f"stdout:\n{res.stdout[-3000:]}\nstderr:\n{res.stderr[-3000:]}"


@pytest.mark.parametrize("agent", ["maskable_ppo", "ppo", "sac"])
def test_train_each_agent_through_the_cli(tmp_path: Path, agent: str) -> None:
    run = tmp_path / "run"
    res = train_cli(run, agent)
    _ok(res)
    for f in ("config.yaml", "command.txt", "versions.json", "evaluations.csv", "status.json"):
        assert (run / f).is_file(), f
    for d in ("best", "final"):
        assert (run / d / "model.zip").is_file()
    assert list((run / "tb").glob("events.out.tfevents*")), "no TensorBoard events"
    assert (run / "checkpoints" / "latest").is_file()
    summary = json.loads((run / "eval" / "summary.json").read_text())
    assert set(summary["summary"]) == {agent, "greedy_utility"}
    assert summary["seeds"] == [1000, 1001]
    for f in ("results.csv", "episodes.csv", "table.md"):
        assert (run / "eval" / f).is_file()
    assert "episode reward" in res.stdout  # the table is printed
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "finished" and status["num_timesteps"] >= 256
    assert f"agent={agent}" in (run / "command.txt").read_text()
    versions = json.loads((run / "versions.json").read_text())
    assert versions["packages"]["stable-baselines3"]


def _tb_scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list[tuple[int, float]]] = {}
    for f in sorted((run / "tb").glob("events.out.tfevents*")):
        acc = EventAccumulator(str(f))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return out


def test_resume_continues_steps_and_logs(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _ok(train_cli(run, "maskable_ppo"))
    first = json.loads((run / "status.json").read_text())["num_timesteps"]
    # a crash while writing a newer checkpoint leaves a temp folder and a
    # half-written step folder: both must be ignored
    ckpts = run / "checkpoints"
    (ckpts / ".tmp-step_000000999999-1").mkdir()
    (ckpts / "step_000000999999").mkdir()
    (ckpts / "step_000000999999" / "model.zip").write_bytes(b"")
    res = run_cli(
        "gainnet-train",
        f"train.resume={run}",
        "train.total_timesteps=512",
        cwd=tmp_path,
    )
    _ok(res)
    assert "resuming" in res.stdout
    status = json.loads((run / "status.json").read_text())
    assert status["num_timesteps"] >= 512 > first
    assert status["session"] == 1
    assert (run / "command.txt").read_text().count("gainnet-train") >= 4  # two sessions
    with open(run / "evaluations.csv") as f:
        steps = [int(r["timesteps"]) for r in csv.DictReader(f)]
    assert steps == sorted(steps) and steps[-1] >= 512
    scalars = _tb_scalars(run)
    assert any(k.startswith("network/") for k in scalars)
    assert max(s for s, _ in scalars["eval/reward"]) >= 512
    # resuming must not change what the run was trained on
    bad = run_cli("gainnet-train", f"train.resume={run}", "scenario.load=1.5", cwd=tmp_path)
    assert bad.returncode == 2
    assert "scenario.load=1.5 is invalid with train.resume" in bad.stderr
    # train.reuse=true (what sweeps use): a finished run with the same config is reused,
    # an interrupted one continues in its folder, another run is refused
    res = train_cli(run, "maskable_ppo", "train.reuse=true")
    _ok(res)
    assert "finished: reused" in res.stdout
    assert json.loads((run / "status.json").read_text())["num_timesteps"] == status["num_timesteps"]
    bad = train_cli(run, "maskable_ppo", "train.reuse=true", "seed=5")
    assert bad.returncode == 2 and "holds another run (seed differ)" in bad.stderr
    (run / "status.json").unlink()
    res = train_cli(run, "maskable_ppo", "train.reuse=true", "train.total_timesteps=768")
    _ok(res)
    assert "resuming" in res.stdout
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "finished" and status["num_timesteps"] >= 768
    assert status["session"] == 2
    # a committed sweep keeps a run's results, not its models (docs/results/grid/sweep/
    # .gitignore): on a fresh clone such a folder is reused, not trained again
    slim = tmp_path / "slim"
    for f in ("config.yaml", "status.json", "eval/episodes.csv", "eval/summary.json"):
        (slim / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(run / f, slim / f)
    res = train_cli(slim, "maskable_ppo", "train.reuse=true")
    _ok(res)
    assert "finished: reused" in res.stdout
    assert not (slim / "best").exists() and not (slim / "checkpoints").exists()


def test_network_kpis_in_tensorboard(tmp_path: Path) -> None:
    run = tmp_path / "run"
    # 2 envs x 256 steps: episodes (~90 decisions) end inside the rollouts
    _ok(train_cli(run, "maskable_ppo", "env.num_envs=2", "agent.n_steps=256"))
    scalars = _tb_scalars(run)
    for kpi in (
        "deadline_met_ratio",
        "p95_latency_s",
        "mean_quality",
        "energy_j",
        "cloud_cost_usd",
        "dropped",
        "edge_backlog_s",
    ):
        assert f"network/{kpi}" in scalars, sorted(scalars)
    assert "rollout/ep_rew_mean" in scalars


def test_multirun_two_jobs_and_report(tmp_path: Path) -> None:
    """Two specialists by -m and a generalist (env.mix=true) in one sweep folder:
    the report pools the specialists' episodes, labels the generalist's apart,
    counts a cell it evaluated twice (its own eval/ and gainnet-evaluate's)
    once, and grades both agents."""
    sweep = tmp_path / "sweep"
    res = run_cli(
        "gainnet-train",
        "-m",
        "seed=0,1",
        *TINY,
        *TINY_AGENT["maskable_ppo"],
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    _ok(res)
    runs = sorted(p.parent.parent for p in sweep.rglob("eval/summary.json"))
    assert len(runs) == 2
    assert {json.loads((r / "status.json").read_text())["status"] for r in runs} == {"finished"}
    gen = sweep / "generalist"
    mix = ("env.mix=true", "env.mix_scenarios=[small]", "env.mix_loads=[0.5,1.0]")
    _ok(train_cli(gen, "maskable_ppo", *mix))
    res = run_cli(
        "gainnet-evaluate", "-m", str(gen), "baselines=[]", "scenario.load=0.5,1.0", "episodes=2"
    )
    _ok(res)
    assert res.stdout.count("gainnet-evaluate: ") == 2  # one line per job of the sweep
    for cell in ("eval_small_load0.5", "eval_small_load1"):
        assert (gen / cell / "episodes.csv").is_file()
    bad = run_cli("gainnet-evaluate", "-m", str(gen), "out=a,b")
    assert bad.returncode == 2 and "-m over out= is invalid" in bad.stderr
    rep = run_cli("gainnet-report", str(sweep), cwd=tmp_path)
    _ok(rep)
    out = sweep / "report"
    with open(out / "report.csv") as f:
        rows = {(r["policy"], float(r["load"])): r for r in csv.DictReader(f)}
    assert set(rows) == {
        ("agent:maskable_ppo", 1.0),
        ("agent:maskable_ppo_generalist", 1.0),
        ("agent:maskable_ppo_generalist", 0.5),
        ("greedy_utility", 1.0),
    }
    # 2 seeds x 2 training runs, pooled
    assert int(rows[("agent:maskable_ppo", 1.0)]["episodes"]) == 4
    assert int(rows[("agent:maskable_ppo_generalist", 1.0)]["episodes"]) == 2  # not 4
    assert int(rows[("greedy_utility", 1.0)]["episodes"]) == 2  # identical in every run: once
    for png in (
        "reward_vs_load.png",
        "deadline_met_ratio_vs_load.png",
        "p95_latency_s_vs_load.png",
    ):
        assert (out / png).stat().st_size > 1000
    with open(out / "grid.csv") as f:
        cells = {r["agent"]: r for r in csv.DictReader(f)}  # one cell (with baselines), two agents
    assert sorted(cells) == ["maskable_ppo", "maskable_ppo_generalist"]
    cell = cells["maskable_ppo"]
    assert cell["best_baseline"] == "greedy_utility"
    assert (int(cell["training_seeds"]), int(cell["episodes"])) == (2, 2)
    lo, p, hi = (
        float(cell[k]) for k in ("p_improvement_low", "p_improvement", "p_improvement_high")
    )
    assert 0.0 <= lo <= p <= hi <= 1.0
    assert cell["verdict"] in {"won", "lost", "tied (at or above)", "tied (below)"}
    assert "2 x 2" in (out / "grid.md").read_text()
    # the training steps behind each cell, from the runs' status.json
    steps = [json.loads((r / "status.json").read_text())["num_timesteps"] for r in runs]
    assert float(cell["train_steps_min"]) == min(steps)
    assert float(cell["train_steps_max"]) == max(steps)


def test_report_on_an_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    res = run_cli("gainnet-report", str(tmp_path))
    assert res.returncode == 2
    assert "no finished run" in res.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("agent=nosuchagent", "Could not find 'agent/nosuchagent'"),
        ("scenario=nosuchscenario", "Could not find 'scenario/nosuchscenario'"),
        (
            "train.total_timesteps=-5",
            "train.total_timesteps=-5 is invalid: must be an integer >= 1",
        ),
        ("scenario.load=-1", "load=-1"),
    ],
)
def test_bad_overrides_are_clear_errors(tmp_path: Path, override: str, message: str) -> None:
    res = run_cli("gainnet-train", override, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert res.returncode != 0
    assert message in res.stderr, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "run").exists(), "a rejected command left a run folder"
    if override.startswith("scenario=nosuch"):
        assert "_base" not in res.stderr and "scenario_base" not in res.stderr  # not offered
    # a folder that holds anything else is never removed
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    (keep / "train.log").write_text("my log")
    res = run_cli("gainnet-train", override, f"hydra.run.dir={keep}", cwd=tmp_path)
    assert res.returncode != 0 and (keep / "notes.txt").read_text() == "mine"
    assert (keep / "train.log").read_text().startswith("my log")
    res = run_cli("gainnet-train", f"train.resume={keep}", cwd=tmp_path)  # not a run folder
    assert res.returncode == 2 and sorted(p.name for p in keep.iterdir() if p.name != ".hydra") == [
        "notes.txt",
        "train.log",
    ]


def test_evaluate_cli_generalisation_and_errors(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _ok(train_cli(run, "maskable_ppo"))
    res = run_cli(
        "gainnet-evaluate",
        str(run),
        "scenario=medium",
        "scenario.load=1.5",
        "episodes=2",
        "baselines=[greedy_utility,matching]",
    )
    _ok(res)
    out = run / "eval_medium_load1.5"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "medium" and summary["load"] == 1.5
    assert summary["trained_on"] == {"scenario": "small", "load": 1.0}
    assert set(summary["summary"]) == {"maskable_ppo", "greedy_utility", "matching"}
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"reward_mean", "reward_ci_low", "reward_ci_high"} <= set(rows[0])
    # a model.zip given directly works too
    _ok(
        run_cli(
            "gainnet-evaluate",
            f"run={run / 'final' / 'model.zip'}",
            "baselines=[]",
            "episodes=2",
        )
    )
    # a scenario key changes the run's own scenario (no scenario=<name>)
    _ok(run_cli("gainnet-evaluate", str(run), "scenario.network.backhaul_bps=2e8", "episodes=2"))
    own = json.loads((run / "eval_small_load1" / "summary.json").read_text())
    assert own["scenario"] == "small" and set(own["summary"]) == {"maskable_ppo", "greedy_utility"}
    # bad options name the field
    for bad, message in [
        ("episodes=1", "episodes=1 is invalid"),
        ("baselines=[nope]", "baselines has unknown ['nope']"),
        ("scenario=tiny", "scenario='tiny' is unknown"),
        ("scenario.network.nope=1", "'nope' is not a key of network"),
        ("--load", "option '--load' is unknown"),
    ]:
        res = run_cli("gainnet-evaluate", str(run), bad)
        assert res.returncode == 2 and message in res.stderr, (bad, res.stderr[-800:])
        assert "Traceback" not in res.stderr
    # missing and corrupt model files
    missing = run_cli("gainnet-evaluate", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    (run / "best" / "model.zip").write_bytes(b"PK\x03\x04 truncated")
    corrupt = run_cli("gainnet-evaluate", str(run))
    assert corrupt.returncode == 2
    assert "corrupt or truncated" in corrupt.stderr and "best/model.zip" in corrupt.stderr
    assert "Traceback" not in corrupt.stderr


def test_tune_script_searches_and_tables_the_trials(tmp_path: Path) -> None:
    """scripts/tune.sh: a 2-trial Optuna search (hydra/sweeper=tune_ppo) beside
    the defaults on the same budget; every trial's objective is its best
    periodic-evaluation reward, the sweeper's best value is the best trial's,
    and a second search into the same folder is refused before training."""
    sweep, out = tmp_path / "tune", tmp_path / "out"
    script = Path(__file__).parents[1] / "scripts" / "tune.sh"
    env = {
        **os.environ,
        "TUNE_DIR": str(sweep),
        "TUNE_OUT": str(out),
        "TUNE_TRIALS": "2",
        "TUNE_STEPS": "256",
        "TUNE_EVAL_EPISODES": "4",
    }
    extra = ["env.num_envs=4", "train.eval_freq=128", "agent.n_steps=32", "agent.batch_size=64"]
    extra.append("agent.policy_kwargs.plan_prior=default")  # no plan search per trial
    res = subprocess.run(
        ["bash", str(script), *extra], env=env, capture_output=True, text=True, timeout=300
    )
    _ok(res)
    with open(out / "trials.csv") as f:
        rows = {r["trial"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"trial0", "trial1", "default"}
    for name, row in rows.items():
        with open(sweep / name / "evaluations.csv") as f:
            rewards = [float(r["reward_mean"]) for r in csv.DictReader(f)]
        assert len(rewards) >= 2  # evaluations at 128 and 256 steps
        assert float(row["objective"]) == max(rewards) == best_validation_reward(sweep / name)
        assert int(row["steps"]) >= 256
    assert rows["default"]["agent.ent_coef"] == "0.005"  # conf/agent/maskable_ppo.yaml
    results = yaml.safe_load((out / "optimization_results.yaml").read_text())
    best = max(float(rows[t]["objective"]) for t in ("trial0", "trial1"))
    assert results["best_value"] == pytest.approx(best)
    assert set(results["best_params"]) <= set(next(iter(rows.values())))
    assert "greedy_best_plan on the same episodes: " in (out / "trials.md").read_text()
    again = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert again.returncode == 2 and f"TUNE_DIR={sweep} exists" in again.stderr
    assert math.isnan(best_validation_reward(tmp_path))  # no evaluations.csv: no score
