"""The trained policies committed under docs/results/policies/ (issue 14):
``gainnet-evaluate`` runs them on a fresh clone, without training, and they
replay the episodes their own evaluation recorded."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "docs" / "results" / "policies"
BIN = Path(sys.executable).parent
FOLDERS = sorted(p for p in POLICIES.glob("*") if (p / "config.yaml").is_file())


def _episodes(path: Path, policy: str) -> dict[str, float]:
    with open(path, newline="") as f:
        return {r["seed"]: float(r["reward"]) for r in csv.DictReader(f) if r["policy"] == policy}


def test_a_policy_is_committed_for_the_default_scenario() -> None:
    assert (POLICIES / "small" / "best" / "model.zip").is_file(), [p.name for p in FOLDERS]


@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_committed_policy_folders_are_complete_and_small(folder: Path) -> None:
    for name in ("config.yaml", "command.txt", "best/model.zip", "eval/table.md"):
        assert (folder / name).is_file(), name
    # the optimiser's moments are stripped (scripts/export_policy.py)
    assert (folder / "best" / "model.zip").stat().st_size < 2_000_000


def test_gainnet_evaluate_replays_the_committed_small_policy(tmp_path: Path) -> None:
    """Three held-out episodes: the same rewards as the policy's own evaluation."""
    folder = POLICIES / "small"
    out = tmp_path / "eval"
    res = subprocess.run(
        [str(BIN / "gainnet-evaluate"), str(folder), "episodes=3", "baselines=[]", f"out={out}"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HYDRA_FULL_ERROR": "0"},
    )
    assert res.returncode == 0, res.stderr[-2000:]
    agent = "maskable_ppo"
    got = _episodes(out / "episodes.csv", agent)
    want = _episodes(folder / "eval" / "episodes.csv", agent)
    assert len(got) == 3
    for seed, reward in got.items():
        assert reward == pytest.approx(want[seed], rel=1e-9, abs=1e-9), seed
