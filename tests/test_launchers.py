"""Hydra launchers: a 2-job sweep on each, through ``gainnet-train -m`` and
through the case study's sweep path (:func:`case_study.train_runs`).

``local`` (joblib) is the default and is exercised by test_train_cli and the
case-study end-to-end test; ``ray_local`` (hydra-ray-launcher on a Ray
instance started for the sweep, the launcher of ``ray_cluster``) and
``submitit_local`` (submitit's local executor, the code path of ``slurm``)
come with the ``cluster`` extra, which scripts/setup.sh installs. Under CI a
missing extra is a failure, not a skip.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gainnet_rl.evaluation.runs import run_finished
from gainnet_rl.studies import case_study
from gainnet_rl.studies.case_study import launch

BIN = Path(sys.executable).parent
PLUGINS = {
    "ray_local": "hydra_plugins.hydra_ray_launcher",
    "submitit_local": "hydra_plugins.hydra_submitit_launcher",
}

TINY = [
    "train.total_timesteps=256",
    "env.num_envs=4",
    "train.eval_freq=128",
    "train.eval_episodes=2",
    "train.checkpoint_freq=128",
    "train.progress_bar=false",
    "evaluate.episodes=2",
    "evaluate.baselines=[]",
    "torch_threads=1",
    "agent.n_steps=32",
    "agent.batch_size=64",
    "agent.n_epochs=1",
]


def _need(launcher: str) -> None:
    module = PLUGINS[launcher]
    if os.environ.get("CI"):
        importlib.import_module(module)  # CI installs the cluster extra: must be there
    else:
        pytest.importorskip(module, reason=f"{launcher} needs pip install -e '.[cluster]'")


@pytest.mark.parametrize("launcher", ["ray_local", "submitit_local"])
def test_two_job_sweep(tmp_path: Path, launcher: str) -> None:
    _need(launcher)
    env = {**os.environ, "HYDRA_FULL_ERROR": "1", "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [
            str(BIN / "gainnet-train"),
            "-m",
            f"hydra/launcher={launcher}",
            *TINY,
            "seed=0,1",
            f"hydra.sweep.dir={tmp_path}",
            "hydra.sweep.subdir=seed${seed}",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=400,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for seed in (0, 1):
        run = tmp_path / f"seed{seed}"
        assert run_finished(run), sorted(p.name for p in run.iterdir())
        status = json.loads((run / "status.json").read_text())
        assert status["num_timesteps"] >= 256
        assert f"seed={seed}" in (run / "command.txt").read_text()


@pytest.mark.parametrize("launcher", ["ray_local", "submitit_local"])
def test_case_study_sweep(tmp_path: Path, launcher: str) -> None:
    """The case study's training (2 MaskablePPO seeds, one sweep) on the launcher,
    then the same call again reuses both runs without launching anything."""
    _need(launcher)
    case = case_study.CASE_STUDIES["vehicular"]
    budget = dataclasses.replace(case_study.BUDGETS["tiny"], agents=("maskable_ppo",), seeds=(0, 1))
    runs = case_study.plan_runs(case, budget, tmp_path / "runs")
    lines: list[str] = []
    sweeps = case_study.train_runs(runs, case, 2, False, lines.append, launcher)
    assert len(sweeps) == 1 and sweeps[0]["exit"] == 0
    assert f"hydra/launcher={launcher}" in sweeps[0]["command"]
    assert all(run_finished(r.run_dir) and not r.info["reused"] for r in runs)
    assert [r.run_dir.name for r in runs] == ["maskable_ppo_seed0", "maskable_ppo_seed1"]

    def no_launch(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished run was launched again")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(launch.subprocess, "Popen", no_launch)
        assert case_study.train_runs(runs, case, 2, False, lines.append, launcher) == []
    assert all(r.info["reused"] for r in runs)
