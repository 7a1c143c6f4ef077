"""scripts/causal_rollout.py: the causal rollout probe of docs/training.md.

Its continuations run in one batched engine; these tests check that a
continuation is the episode the evaluation path plays, that the probe's
hindsight mode is a policy improvement (never below the plans it starts
from, on every seed), and that its causal mode keeps the plans in force when
no switch is worth it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gainnet_rl.agents.baselines import FixedPlanGreedy
from gainnet_rl.envs import core
from gainnet_rl.envs.config import make_params
from gainnet_rl.envs.engine import Engine
from gainnet_rl.evaluation.rollout import evaluate

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "causal_rollout.py"
_spec = importlib.util.spec_from_file_location("causal_rollout", SCRIPT)
assert _spec is not None and _spec.loader is not None
causal_rollout = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(causal_rollout)

SEEDS = (1000, 1001)


@pytest.fixture(scope="module")
def short():
    """small at load 1, 5 frames an episode; held plans: the default plan on every edge.
    v1's demand: the properties hold for any demand; these seeds exercise them on v1."""
    p = make_params("small", overrides={"episode_slots": 50}, version=1)
    return p, np.full(p.num_edges, p.default_plan, dtype=np.int64)


def test_continuations_replay_the_evaluation_path(short) -> None:  # type: ignore[no-untyped-def]
    """Two continuations from the reset states, batched, earn exactly what
    `evaluate` gives the same fixed plans on the same seeds."""
    p, base = short
    expected = evaluate(lambda env: FixedPlanGreedy(env, plans=base), p, list(SEEDS))["reward"]
    eng = Engine(p, len(SEEDS))
    eng.reset(list(SEEDS))
    got = []
    for i in range(len(SEEDS)):
        row = core.take(eng.state, np.array([i, i]))
        keys = np.array([eng.state.key[i], eng.state.key[i]], dtype=np.uint64)
        got.append(causal_rollout.continuation_rewards(row, p, np.tile(base, (2, 1)), keys))
    got = np.array(got)
    np.testing.assert_allclose(got[:, 0], expected, rtol=1e-12)
    np.testing.assert_array_equal(got[:, 0], got[:, 1])  # same key, same state: same future


@pytest.mark.parametrize("decisions", ["plans", "requests"])
def test_hindsight_rollout_never_falls_below_the_policy_it_improves(short, decisions) -> None:  # type: ignore[no-untyped-def]
    """With the episode's own future every decision's chosen continuation is
    worth at least the fixed-plan greedy one, and the next decision starts
    from it, so the episode ends at or above greedy under the fixed plans
    (deterministic simulator: a rollout never does worse than its base policy)."""
    p, base = short
    name = decisions[:-1]
    gains = []
    for seed in SEEDS:
        row = causal_rollout.episode(p, base, seed, 1, True, decisions=decisions)
        assert row[f"{name}_decisions"] > 0
        other = "request" if name == "plan" else "plan"
        assert row[f"{other}_decisions"] == 0  # only the chosen kind is rolled out
        assert row["rollout"] >= row["greedy_best_plan"] - 1e-9
        assert row[f"{name}s_changed"] == len(row["switches"])
        gains.append(row["rollout"] - row["greedy_best_plan"])
    assert max(gains) > 0  # hindsight finds something on these seeds


def test_causal_rollout_keeps_its_plans_when_no_switch_clears_the_bar(short) -> None:  # type: ignore[no-untyped-def]
    """With an unreachable bar (z) the probe never switches and earns what
    the held plans earn; its sampled futures never use the episode's key."""
    p, base = short
    row = causal_rollout.episode(p, base, SEEDS[0], 2, False, z=1e9, decisions="both")
    assert row["plan_decisions"] > 0 and row["request_decisions"] > 0
    assert row["plans_changed"] == row["requests_changed"] == 0
    assert row["rollout"] == pytest.approx(row["greedy_best_plan"], rel=1e-12)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--futures", "0"], "--futures"),
        (["--z", "-1"], "--z"),
        (["--episodes", "1"], "--episodes"),
        (["--set", "arrivals.burst_factor"], "--set"),
    ],
)
def test_bad_arguments_are_refused_naming_the_flag(args: list[str], field: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert field in proc.stderr and "invalid" in proc.stderr


DRIVER = SCRIPT.parent / "causal_headroom.sh"


def _driver(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHON": sys.executable, "CAUSAL_DIR": str(tmp_path / "ch"), **env}
    return subprocess.run(
        ["bash", str(DRIVER)], capture_output=True, text=True, env=full, timeout=600
    )


def test_driver_runs_a_cell_tables_it_and_keeps_it_on_a_rerun(tmp_path: Path) -> None:
    """causal_headroom.sh on one cell (2 episodes, 2 futures, the routing alone,
    a 5 s look-ahead: cheap): the cell's JSON on v2 and its hindsight bound, then
    the table, without the v1 grid's verdicts; a second run keeps the JSON
    instead of recomputing it."""
    cell = dict(
        CAUSAL_SIZES="small",
        CAUSAL_LOADS="1.0",
        CAUSAL_EPISODES="2",
        CAUSAL_FUTURES="2",
        CAUSAL_DECISIONS="requests",
        CAUSAL_HORIZON_S="5",
    )
    proc = _driver(tmp_path, **cell)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "ch" / "small_load1.0_requests.json"
    run = json.loads(out.read_text())
    sm = run["summary"]
    assert sm["episodes"] == 2 and sm["futures"] == 2 and sm["version"] == 2
    assert sm["horizon_s"] == 5.0 and sm["candidates"] == 8 and not sm["hindsight"]
    assert [e["seed"] for e in run["episodes"]] == [1000, 1001]
    bound = json.loads((tmp_path / "ch" / "small_load1.0_requests_hindsight.json").read_text())
    assert bound["summary"]["hindsight"] and bound["summary"]["futures"] == 1
    table = (tmp_path / "ch" / "table.md").read_text()
    assert "GainNet-v2; the grid's verdicts are v1's only." in table
    assert "| small | 1 | requests (8 plans, 5 s) | 2 | 2 |" in table
    assert "| small | 1 | requests (8 plans, 5 s) | hindsight | 2 |" in table
    assert "tied" not in table
    again = _driver(tmp_path, **cell)
    assert again.returncode == 0 and f"kept {out}" in again.stdout
    assert json.loads(out.read_text()) == run


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"CAUSAL_SIZES": "tiny"}, "CAUSAL_SIZES"),
        ({"CAUSAL_EPISODES": "1"}, "CAUSAL_EPISODES"),
        ({"CAUSAL_FUTURES": "x"}, "CAUSAL_FUTURES"),
        ({"CAUSAL_VERSION": "3"}, "CAUSAL_VERSION"),
        ({"CAUSAL_DECISIONS": "all"}, "CAUSAL_DECISIONS"),
        ({"CAUSAL_HORIZON_S": "-1"}, "CAUSAL_HORIZON_S"),
    ],
)
def test_driver_refuses_bad_settings_before_running(
    tmp_path: Path, env: dict[str, str], field: str
) -> None:
    proc = _driver(tmp_path, **env)
    assert proc.returncode == 2
    assert field in proc.stderr and "invalid" in proc.stderr
    assert not any((tmp_path / "ch").glob("*.json"))  # nothing ran


def test_table_refuses_a_folder_without_results(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--table", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "holds no causal_rollout.py results" in proc.stderr


def test_committed_table_is_what_the_committed_results_give(tmp_path: Path) -> None:
    """docs/results/causal_rollout/table.md (the numbers docs/training.md and
    the README quote) is rebuilt, byte for byte, from the committed runs."""
    committed = SCRIPT.parents[1] / "docs" / "results" / "causal_rollout"
    for f in committed.glob("*.json"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    grid = SCRIPT.parents[1] / "docs" / "results" / "grid" / "grid.csv"
    text = causal_rollout.table(tmp_path, grid)
    assert text == (committed / "table.md").read_text()
    assert "| small | 1 | requests | 16 | 20 |" in text  # the default scenario's row


def test_table_keeps_runs_of_another_scenario_apart(tmp_path: Path) -> None:
    """A run made with --set overrides is its own row, named by them, and
    takes no grid verdict (the grid ran the scenario without them)."""
    committed = SCRIPT.parents[1] / "docs" / "results" / "causal_rollout"
    run = json.loads((committed / "small_load1.0_requests.json").read_text())
    (tmp_path / "plain.json").write_text(json.dumps(run))
    run["summary"]["overrides"] = ["arrivals.burst_factor=5"]
    (tmp_path / "bursty.json").write_text(json.dumps(run))
    grid = SCRIPT.parents[1] / "docs" / "results" / "grid" / "grid.csv"
    rows = [r for r in causal_rollout.table(tmp_path, grid).splitlines() if r.startswith("| small")]
    assert len(rows) == 2
    (bursty,) = [r for r in rows if "burst_factor" in r]
    (plain,) = [r for r in rows if "burst_factor" not in r]
    assert "| small | 1 | requests | 16 | 20 |" in plain and plain.endswith(
        "| tied (at or above) |"
    )
    assert bursty.startswith("| small (arrivals.burst_factor=5) | 1 | requests | 16 | 20 |")
    assert bursty.endswith("|  |")
