"""The trained policies committed under docs/results/policies/ (issue 14):
``gainnet-evaluate`` runs them on a fresh clone, without training, and they
replay the episodes their own evaluation recorded."""

from __future__ import annotations

import csv
import json
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


AGREEMENT = (sys.executable, str(ROOT / "scripts" / "agreement.py"), str(POLICIES / "small"))


def test_agreement_script_compares_the_small_policy_with_its_prior(tmp_path: Path) -> None:
    """scripts/agreement.py on the committed small policy (2 episodes): counts
    every plan and request decision, its differing share is a share, the
    plan margin is a finite logit gap and the prior logit is the run's own."""
    out = tmp_path / "agreement.json"
    done = subprocess.run(
        [*AGREEMENT, "--episodes", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["episodes"] == 2
    # small: 2 edges x 20 frames of plan decisions per episode
    assert res["plan"]["decisions"] == 2 * 2 * 20
    for kind in ("plan", "request"):
        n, differ = res[kind]["decisions"], res[kind]["differ"]
        assert n > 0 and 0 <= differ <= n and res[kind]["share"] == differ / n
    assert res["plan"]["margin_min"] <= res["plan"]["margin_mean"] < float("inf")
    assert res["plan"]["prior_logit"] == 5.0  # conf/agent/maskable_ppo.yaml, as trained
    bad = subprocess.run(
        [*AGREEMENT, "--episodes", "0"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "--episodes=0 is invalid: must be >= 1" in bad.stderr
