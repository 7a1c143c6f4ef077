"""The committed sweep (docs/results/grid/sweep/, issue 14) holds what its
report needs: on a fresh clone ``gainnet-report docs/results/grid/sweep``
gives the committed grid table again, cell for cell, without training."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from gainnet_rl.studies.report import aggregate, find_runs, grid

SWEEP = Path(__file__).resolve().parents[1] / "docs" / "results" / "grid" / "sweep"


def test_committed_sweep_regenerates_its_grid_table() -> None:
    runs = find_runs(SWEEP)
    assert runs
    cells = grid(aggregate(runs)[2])
    with open(SWEEP / "report" / "grid.csv", newline="") as f:
        committed = list(csv.DictReader(f))
    assert len(cells) == len(committed) > 0
    for new, old in zip(cells, committed, strict=True):
        for key, want in old.items():
            got = new[key]
            if isinstance(got, float):
                assert math.isclose(got, float(want), rel_tol=1e-9, abs_tol=1e-12), (key, old)
            else:
                assert str(got) == want, (key, old)
