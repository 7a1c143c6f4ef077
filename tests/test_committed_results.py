"""The committed sweep (docs/results/grid/sweep/, issue 14) holds what its
report needs: on a fresh clone ``gainnet-report docs/results/grid/sweep``
gives the published grid table (docs/results/grid/grid.csv) again, cell for
cell, without training; and
scripts/grid.sh, which makes it, refuses a bad GRID_PARTS."""

from __future__ import annotations

import csv
import math
import os
import subprocess
from pathlib import Path

import pytest

from gainnet_rl.studies.report import aggregate, find_runs, grid

SWEEP = Path(__file__).resolve().parents[1] / "docs" / "results" / "grid" / "sweep"


def test_committed_sweep_regenerates_its_grid_table() -> None:
    runs = find_runs(SWEEP)
    assert runs
    cells = grid(aggregate(runs)[2])
    with open(SWEEP.parent / "grid.csv", newline="") as f:
        committed = list(csv.DictReader(f))
    assert len(cells) == len(committed) > 0
    for new, old in zip(cells, committed, strict=True):
        for key, want in old.items():
            got = new[key]
            if isinstance(got, float):
                assert math.isclose(got, float(want), rel_tol=1e-9, abs_tol=1e-12), (key, old)
            else:
                assert str(got) == want, (key, old)


def _grid_sh(**env: str) -> subprocess.CompletedProcess[str]:
    """scripts/grid.sh with these environment variables (no arguments)."""
    script = SWEEP.parents[3] / "scripts" / "grid.sh"
    cmd = ["bash", str(script)]
    return subprocess.run(
        cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("parts", "message"),
    [("sac bogus", "GRID_PARTS has 'bogus'"), ("", "GRID_PARTS is empty")],
)
def test_grid_script_rejects_unknown_or_empty_parts(parts: str, message: str) -> None:
    """scripts/grid.sh names the bad GRID_PARTS value and the allowed parts
    before it trains anything (exit 2)."""
    done = _grid_sh(GRID_PARTS=parts)
    assert done.returncode == 2
    assert message in done.stderr
    assert "specialists generalist sac report" in done.stderr


def test_grid_script_refuses_the_old_specialists_only_switch() -> None:
    """GRID_SPECIALISTS_ONLY (before git a02b89b) is refused with its new
    spelling, not ignored: ignored, it would run the whole grid."""
    done = _grid_sh(GRID_SPECIALISTS_ONLY="1")
    assert done.returncode == 2
    assert "GRID_SPECIALISTS_ONLY is now GRID_PARTS=specialists" in done.stderr
