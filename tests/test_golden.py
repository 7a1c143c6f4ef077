"""Golden trajectories: the dynamics still produce the recorded trajectories.

``tests/data/golden_trajectories.npz`` was recorded by
``scripts/golden_trajectories.py record`` (last when the normal draws
changed, docs/benchmarks.md); optimisations must keep every trajectory.
This test re-runs the
faster configurations and compares per-step observation and reward sums and
the final episode metrics to 1e-9 (another CPU's libm may differ in the last
bit); ``python scripts/golden_trajectories.py check`` runs all of them and
also compares SHA-256 hashes, i.e. bit for bit. A deliberate change of the
dynamics re-records the file (and says so in its commit).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "golden_trajectories.py"
_spec = importlib.util.spec_from_file_location("golden_trajectories", SCRIPT)
assert _spec is not None and _spec.loader is not None
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)

FAST = [c for c in golden.CONFIGS if not c[0].startswith("large")]


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(golden.GOLDEN) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("config", FAST, ids=["-".join(c) for c in FAST])
def test_trajectory_matches_the_recording(config: tuple[str, str, str], reference) -> None:  # type: ignore[no-untyped-def]
    got = golden.run(*config)
    name = "-".join(config)
    for key in ("obs_sum", "reward", "final_metrics"):
        np.testing.assert_allclose(
            got[key], reference[f"{name}/{key}"], rtol=1e-9, atol=1e-9, err_msg=f"{name}: {key}"
        )
