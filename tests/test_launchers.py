"""Hydra launchers: a 2-job ``gainnet-train -m`` sweep on each, launched by the
case study's sweep path (:func:`case_study.train_runs`).

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
from pathlib import Path

import pytest

from gainnet_rl.evaluation.runs import run_finished
from gainnet_rl.studies import case_study
from gainnet_rl.studies.case_study import launch

PLUGINS = {
    "ray_local": "hydra_plugins.hydra_ray_launcher",
    "submitit_local": "hydra_plugins.hydra_submitit_launcher",
}


def _need(launcher: str) -> None:
    module = PLUGINS[launcher]
    if os.environ.get("CI"):
        importlib.import_module(module)  # CI installs the cluster extra: must be there
    else:
        pytest.importorskip(module, reason=f"{launcher} needs pip install -e '.[cluster]'")


@pytest.mark.parametrize("launcher", ["ray_local", "submitit_local"])
def test_case_study_sweep(tmp_path: Path, launcher: str) -> None:
    """The case study's training (2 MaskablePPO seeds: one ``gainnet-train -m
    hydra/launcher=<launcher> ... seed=0,1`` sweep of 2 jobs) on the launcher,
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
    assert "seed=0,1" in sweeps[0]["command"]
    for seed, run in enumerate(runs):
        status = json.loads((run.run_dir / "status.json").read_text())
        assert status["num_timesteps"] >= 2048
        assert f"seed={seed}" in (run.run_dir / "command.txt").read_text()

    def no_launch(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished run was launched again")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(launch.subprocess, "Popen", no_launch)
        assert case_study.train_runs(runs, case, 2, False, lines.append, launcher) == []
    assert all(r.info["reused"] for r in runs)
