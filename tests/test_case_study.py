"""``gainnet-case-study`` end to end on the smallest budgets, and ``evaluation.trace``.

The end-to-end test trains one seed per agent for a couple of thousand steps
(the hidden ``--tiny`` mode): the point is the plumbing (Hydra sweeps,
reuse, every figure and the CSV behind it), not learning.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gainnet_rl.agents.baselines import HEURISTICS
from gainnet_rl.envs import core, dynamics
from gainnet_rl.envs.config import ConfigError, load_scenario, make_params
from gainnet_rl.evaluation.rollout import evaluate, trace
from gainnet_rl.evaluation.runs import DONE_STATUSES
from gainnet_rl.studies import case_study
from gainnet_rl.studies.case_study import figures, launch

BIN = Path(sys.executable).parent
OUTAGE = [{"kind": "outage", "edges": [0], "start_s": 10.0, "end_s": None}]

#: CSV -> (columns that must be present, numeric columns that may be empty
#: where nothing finished or was served in a frame)
EXPECTED: dict[str, tuple[set[str], set[str]]] = {
    "learning_curves.csv": (
        {"policy", "kind", "timesteps", "n", "reward_mean", "reward_ci_low", "reward_ci_high"},
        set(),
    ),
    "qos_vs_load.csv": (
        {
            "policy",
            "kind",
            "load",
            "seeds",
            "episodes",
            *(f"{m}_{s}" for m in figures.QOS_METRICS for s in ("iqm", "ci_low", "ci_high")),
        },
        set(),
    ),
    "cost_quality.csv": (
        {
            "policy",
            "kind",
            "w_cloud_cost_multiplier",
            "w_cloud_cost",
            "weight_dependent",
            "mean_quality_iqm",
            "cloud_cost_usd_iqm",
            "pareto",
        },
        set(),
    ),
    "robustness.csv": (
        {
            "condition",
            "policy",
            "frame",
            "t_start_s",
            "reward_mean",
            "reward_ci_low",
            "reward_ci_high",
            "deadline_met_ratio",
        },
        {"deadline_met_ratio", "event_start_s"},
    ),
    "knowledge_flow.csv": (
        {"knowledge_flow", "policy", "frame", "t_start_s", "mean_quality"},
        {"mean_quality"},
    ),
}
TEXT_COLUMNS = {"policy", "kind", "ci_over", "condition", "training_seed", "weight_dependent"}
TEXT_COLUMNS |= {"pareto", "knowledge_flow"}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------ trace


def _greedy(env: Any) -> Any:
    return HEURISTICS["greedy_utility"](env, seed=0)


def _random(env: Any) -> Any:
    return HEURISTICS["random"](env, seed=0)


@pytest.mark.parametrize(
    "scenario,overrides,make",
    [
        ("medical", {}, _greedy),
        ("vehicular", {"events": OUTAGE}, _greedy),
        ("small", {"load": 2.0}, _random),
    ],
)
def test_trace_counts_every_request_once(scenario, overrides, make) -> None:
    params = make_params(scenario, overrides=overrides)
    seeds = [1000, 1001, 1002, 1003]
    tr = trace(make, params, seeds)
    ev = evaluate(make, params, seeds)
    frames = params.episode_slots // params.frame_slots
    for k in ("reward", "served", "dropped", "met", "quality", "arrived"):
        assert tr[k].shape == (len(seeds), frames)
    # every request that arrived is served, dropped or still pending, once
    np.testing.assert_array_equal(
        tr["arrived"].sum(1), tr["served"].sum(1) + tr["dropped"].sum(1) + tr["pending"]
    )
    # the per-frame series add up to evaluate()'s episode totals
    for k in ("arrived", "served", "dropped", "pending"):
        np.testing.assert_array_equal(tr[k].sum(1) if tr[k].ndim == 2 else tr[k], ev[k])
    np.testing.assert_allclose(tr["reward"].sum(1), ev["reward"], rtol=1e-9, atol=1e-9)
    served, finished = tr["served"].sum(1), tr["served"].sum(1) + tr["dropped"].sum(1)
    np.testing.assert_allclose(tr["quality"].sum(1) / served, ev["mean_quality"], rtol=1e-9)
    np.testing.assert_allclose(tr["met"].sum(1) / finished, ev["deadline_met_ratio"], rtol=1e-9)


def test_cell_stat_is_the_iqm_with_an_interval_inside_the_scores() -> None:
    from gainnet_rl.studies.case_study.measure import cell_stat

    rng = np.random.default_rng(0)
    # ratios near 1: a Student-t interval over 3 seed means would cross 1
    per_seed = [np.clip(rng.normal(0.97, 0.05, 20), 0, 1) for _ in range(3)]
    per_seed[0][5] = 1.0
    iqm, lo, hi, over = cell_stat(per_seed)
    x = np.sort(np.concatenate(per_seed))
    assert iqm == pytest.approx(x[15:45].mean())  # 25% trimmed from each end
    assert 0.0 <= x[0] <= lo <= iqm <= hi <= x[-1] <= 1.0
    assert over == "3 seeds x 20 episodes"
    # an episode with no value (NaN) is left out for every seed, pairing kept
    per_seed[1][3] = np.nan
    assert cell_stat(per_seed)[3] == "3 seeds x 19 episodes"
    assert cell_stat(per_seed[:1])[3] == "20 episodes"  # a baseline's one row
    assert np.isnan(cell_stat([np.array([0.5])])[1])


def test_trace_attributes_events_to_their_frame(monkeypatch) -> None:
    """Against the dynamics' own per-slot events (recorded from dynamics.advance),
    summed over frames; the per-frame rewards add up to the episode reward."""
    params = make_params("medical", overrides={"events": OUTAGE})
    seeds = [1000, 1001, 1002]
    n, T = len(seeds), params.episode_slots
    truth = np.zeros((len(core.RING_FIELDS), n, T))
    seen = np.zeros((n, T), dtype=bool)
    advance = dynamics.advance

    def recording(s, p, idx):  # type: ignore[no-untyped-def]
        rows = np.arange(s.batch_size) if idx is None else np.asarray(idx)
        t = s.slot[rows].copy()
        ev, reward, energy = advance(s, p, idx)
        first = ~seen[rows, t]  # the first episode only (the env autoresets)
        truth[:, rows[first], t[first]] = ev[first].T
        seen[rows[first], t[first]] = True
        return ev, reward, energy

    monkeypatch.setattr(dynamics, "advance", recording)
    tr = trace(_random, params, seeds)
    assert seen.all()
    frames = lambda x: x.reshape(n, -1, params.frame_slots).sum(-1)
    for k in ("served", "dropped", "met", "quality"):
        want = frames(truth[core.RING_FIELDS.index(k)])
        assert want.sum() > 0
        np.testing.assert_allclose(tr[k], want, atol=1e-9)
    monkeypatch.setattr(dynamics, "advance", advance)
    ev = evaluate(_random, params, seeds)
    np.testing.assert_allclose(tr["reward"].sum(axis=1), ev["reward"], atol=1e-9)


def test_pareto_front() -> None:
    cost = np.array([0.0, 1.0, 1.0, 2.0, 0.5])
    quality = np.array([0.3, 0.5, 0.4, 0.5, 0.3])
    assert case_study.pareto(cost, quality).tolist() == [True, True, False, False, False]


# ------------------------------------------------------------------ CLI


def test_unknown_case_study_is_exit_2() -> None:
    proc = subprocess.run(
        [str(BIN / "gainnet-case-study"), "medical"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "case study 'medical' is unknown" in proc.stderr
    assert "medical_summarization" in proc.stderr and "vehicular" in proc.stderr


@pytest.mark.parametrize(
    "argv,message",
    [
        (["vehicular", "--jobs", "0"], "--jobs='0' is invalid: must be an integer >= 1"),
        (["vehicular", "--jobs", "two"], "--jobs='two' is invalid"),
        (["vehicular", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_are_exit_2(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        case_study.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_out_must_be_a_folder(tmp_path, capsys) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(SystemExit) as exc:
        case_study.main(["vehicular", "--out", str(f)])
    assert exc.value.code == 2
    assert "is not a folder" in capsys.readouterr().err


def test_runs_are_grouped_into_hydra_sweeps(tmp_path) -> None:
    case = case_study.CASE_STUDIES["vehicular"]
    runs = case_study.plan_runs(case, case_study.BUDGETS["full"], tmp_path)
    w0 = load_scenario("vehicular")["reward"]["w_cloud_cost"]
    wa, wb = repr(float(f"{0.25 * w0:.6g}")), repr(float(f"{4 * w0:.6g}"))
    assert [r.name for r in runs] == [
        *(f"maskable_ppo_seed{k}" for k in (0, 1, 2)),
        *(f"sac_seed{k}" for k in (0, 1, 2)),
        f"maskable_ppo_wcloud{wa}_seed0",
        f"maskable_ppo_wcloud{wb}_seed0",
    ]
    assert f"scenario.reward.w_cloud_cost={wa}" in runs[-2].overrides
    sweeps = case_study.plan_sweeps(runs)
    # full mode: agents share their budget, so the main runs are one 2 x 3 sweep
    assert [len(s.runs) for s in sweeps] == [6, 2]
    main, cost = sweeps
    assert "agent=maskable_ppo,sac" in main.overrides() and "seed=0,1,2" in main.overrides()
    assert f"scenario.reward.w_cloud_cost={wa},{wb}" in cost.overrides()
    cmd = case_study.sweep_command(cost, tmp_path, "local", 2)
    assert cmd[1:4] == ["-m", "gainnet_rl.agents.train", "-m"]
    assert "train.reuse=true" in cmd and "hydra.launcher.n_jobs=2" in cmd
    assert f"hydra.sweep.dir={tmp_path}" in cmd
    # the sweep's subdir names each run's folder from its own config
    sub = cost.subdir
    for run in cost.runs:
        w = run.value("scenario.reward.w_cloud_cost")
        assert (
            sub.replace("${agent.name}", "maskable_ppo")
            .replace("${scenario.reward.w_cloud_cost}", str(float(w)))
            .replace("${seed}", "0")
            == run.name
        )
    # only what is left is swept; per-agent budgets (tiny) split the sweep by agent
    assert case_study.plan_sweeps([runs[0], runs[2]])[0].swept["seed"] == ["0", "2"]
    tiny = case_study.plan_sweeps(case_study.plan_runs(case, case_study.BUDGETS["tiny"], tmp_path))
    assert [s.swept["agent"] for s in tiny] == [["maskable_ppo"], ["sac"]]
    # runs that are no product of their swept values: one sweep each, each its own log
    singles = case_study.plan_sweeps([runs[1], runs[2], runs[3]])
    assert len({s.name for s in singles}) == len(singles)
    # sweeps run together while their runs fit in --jobs
    assert [[(len(s.runs), n) for s, n in w] for w in launch.waves(tiny, 2)] == [[(1, 1), (1, 1)]]
    assert [[(len(s.runs), n) for s, n in w] for w in launch.waves(sweeps, 2)] == [
        [(6, 2)],
        [(2, 2)],
    ]
    with pytest.raises(ConfigError, match="launcher='nope' is unknown"):
        case_study.sweep_command(cost, tmp_path, "nope", 2)


def test_tiny_study_end_to_end_and_reuse(tmp_path, monkeypatch) -> None:
    out = tmp_path / "study"
    proc = subprocess.run(
        [str(BIN / "gainnet-case-study"), "vehicular", "--tiny", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    for stem in ("learning_curves", "qos_vs_load", "cost_quality", "robustness", "knowledge_flow"):
        png = out / f"{stem}.png"
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        rows = _rows(out / f"{stem}.csv")
        assert rows, stem
        required, may_be_empty = EXPECTED[f"{stem}.csv"]
        assert required <= set(rows[0]), (stem, required - set(rows[0]))
        for col in set(rows[0]) - TEXT_COLUMNS:
            cells = [r[col] for r in rows]
            if col not in may_be_empty:
                assert all(c != "" for c in cells), (stem, col)
            values = [float(c) for c in cells if c != ""]
            assert values and all(math.isfinite(v) for v in values), (stem, col)
    # what was plotted
    curves = _rows(out / "learning_curves.csv")
    for agent in ("maskable_ppo", "sac"):
        assert len([r for r in curves if r["policy"] == agent]) >= 2
    assert {r["policy"] for r in curves} >= set(HEURISTICS)
    qos = _rows(out / "qos_vs_load.csv")
    assert {float(r["load"]) for r in qos} == set(case_study.BUDGETS["tiny"].loads)
    for r in qos:  # a ratio's interval stays inside [0, 1]
        for m in ("deadline_met_ratio", "mean_quality"):
            lo, iqm, hi = (float(r[f"{m}_{s}"]) for s in ("ci_low", "iqm", "ci_high"))
            assert 0.0 <= lo <= iqm <= hi <= 1.0, (r["policy"], m, lo, iqm, hi)
    assert {r["condition"] for r in _rows(out / "robustness.csv")} == {
        "none",
        "outage",
        "compute_cut",
    }
    assert {r["knowledge_flow"] for r in _rows(out / "knowledge_flow.csv")} == {"true", "false"}
    assert any(r["pareto"] == "true" for r in _rows(out / "cost_quality.csv"))
    table = (out / "table.md").read_text()
    assert "| maskable_ppo (1 seeds) |" in table and "| greedy_utility |" in table
    summary = json.loads((out / "summary.json").read_text())
    assert summary["case_study"] == "vehicular" and summary["mode"] == "tiny"
    assert [r["name"] for r in summary["runs"]] == ["maskable_ppo_seed0", "sac_seed0"]
    for r in summary["runs"]:
        assert r["status"] in DONE_STATUSES and r["num_timesteps"] >= 2048
        assert r["command"].startswith("gainnet-train experiment=vehicular agent=")
        assert not r["reused"]
    # tiny: per-agent budgets, so one sweep per agent, both at once (2 jobs)
    assert (out / "runs" / "sweep_sac_seed0.log").is_file()
    assert len(summary["sweeps"]) == 2 and all(sw["exit"] == 0 for sw in summary["sweeps"])
    assert "train.reuse=true" in summary["sweeps"][0]["command"]
    assert not list(out.rglob(".*.tmp-*"))

    # Rerunning reuses the finished runs: no training subprocess is started.
    def no_training(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a finished run was retrained")

    monkeypatch.setattr(launch.subprocess, "Popen", no_training)
    runs = case_study.plan_runs(
        case_study.CASE_STUDIES["vehicular"], case_study.BUDGETS["tiny"], out / "runs"
    )
    lines: list[str] = []
    case_study.train_runs(runs, case_study.CASE_STUDIES["vehicular"], 2, False, lines.append)
    assert all(r.info["reused"] for r in runs)
    assert all("reused" in line for line in lines)
    # ... and a folder holding another run is refused, naming it
    other = case_study.plan_runs(
        case_study.CASE_STUDIES["medical_summarization"], case_study.BUDGETS["tiny"], out / "runs"
    )
    with pytest.raises(case_study.CaseStudyError, match="holds another run: scenario='vehicular'"):
        case_study.train_runs(
            other, case_study.CASE_STUDIES["medical_summarization"], 2, False, lines.append
        )

    # An interrupted run (no status, no checkpoint) is resumed in its folder by a
    # sweep with train.reuse=true, never deleted; a sweep that leaves it unfinished fails.
    run = runs[0]
    (run.run_dir / "status.json").unlink()
    shutil.rmtree(run.run_dir / "checkpoints")
    kept = sorted(p.name for p in run.run_dir.iterdir())
    started: list[list[str]] = []

    class FakeProc:
        def __init__(self, cmd: list[str], **kwargs: Any) -> None:
            started.append(cmd)

        def wait(self) -> int:
            return 0

    monkeypatch.setattr(launch.subprocess, "Popen", FakeProc)
    with pytest.raises(case_study.CaseStudyError, match="maskable_ppo_seed0 unfinished"):
        case_study.train_runs([run], case_study.CASE_STUDIES["vehicular"], 1, False, lines.append)
    assert len(started) == 1 and "train.reuse=true" in started[0]
    assert f"hydra.sweep.dir={run.run_dir.parent}" in started[0]
    assert sorted(p.name for p in run.run_dir.iterdir()) == kept
