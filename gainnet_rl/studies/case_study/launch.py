"""Train a case study's runs: one ``gainnet-train -m`` sweep per group of runs,
run by a Hydra launcher (joblib on this machine, Ray or submitit/SLURM on a
cluster).

Before launching, every run folder is checked: a finished run is reused (and
left out of the sweeps; ``--force`` deletes it first), a folder of another run
is refused, and an interrupted run stays in its sweep, where
``train.reuse=true`` makes gainnet-train continue it from its last checkpoint
with the wall-clock budget it has left. On Ctrl-C (or SIGTERM) each sweep's
process group gets one SIGINT: every training job writes a checkpoint, so the
same command continues the study.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gainnet_rl.evaluation import runs as run_files
from gainnet_rl.studies.case_study.plan import (
    CaseStudy,
    CaseStudyError,
    Run,
    Sweep,
    plan_sweeps,
    sweep_command,
)

#: overrides the comparison of a reused run's recorded overrides ignores
_NOT_COMPARED = ("train.reuse",)


def check_same_run(run: Run, case: CaseStudy, w_cloud: float | None) -> None:
    """Raise CaseStudyError if the folder holds a run of another agent, seed or scenario."""
    cfg = run_files.load_run_config(run.run_dir)
    found = {
        "agent": str(cfg.agent.name),
        "seed": int(cfg.seed),
        "scenario": str(cfg.scenario.name),
    }
    want: dict[str, Any] = {"agent": run.agent, "seed": run.seed, "scenario": case.scenario}
    if w_cloud is not None:
        found["scenario.reward.w_cloud_cost"] = float(cfg.scenario.reward.w_cloud_cost)
        want["scenario.reward.w_cloud_cost"] = w_cloud
    diff = {k: (found[k], v) for k, v in want.items() if found[k] != v}
    if diff:
        what = ", ".join(f"{k}={a!r} (want {b!r})" for k, (a, b) in diff.items())
        raise CaseStudyError(
            f"run folder {run.run_dir} holds another run: {what}; "
            "pass --force to retrain it, or choose another --out"
        )


def recorded_overrides(run_dir: Path) -> list[str] | None:
    """The overrides the run's first session was started with (command.txt)."""
    try:
        lines = (run_dir / "command.txt").read_text().splitlines()
        i = lines.index("# this job alone:")
        return shlex.split(lines[i + 1])[1:]
    except (OSError, ValueError, IndexError):
        return None


def _each(overrides: Sequence[str]) -> list[str]:
    """Each override as ``key=value`` with a number normalised (``250`` == ``250.0``)."""
    out = []
    for o in overrides:
        key, _, value = o.partition("=")
        try:
            value = repr(float(value))
        except ValueError:
            pass
        out.append(f"{key}={value}")
    return out


def _canonical(overrides: Sequence[str]) -> set[str]:
    """:func:`_each` of the overrides, the last one of a repeated key winning (as in Hydra)."""
    last = {c.partition("=")[0]: c for c in _each(overrides)}
    return {v for k, v in last.items() if k not in _NOT_COMPARED}


def display(cmd: Sequence[str]) -> str:
    """The command as a user would type it (gainnet-train instead of python -m ...)."""
    args = list(cmd)
    if args[1:3] == ["-m", "gainnet_rl.agents.train"]:
        args = ["gainnet-train", *args[3:]]
    return shlex.join(args)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[k] = "1"
    env["HYDRA_FULL_ERROR"] = "1"
    return env


def prepare(
    runs: Sequence[Run], case: CaseStudy, force: bool, log: Callable[[str], None] = print
) -> list[Run]:
    """Check every run folder; return the runs still to train (or to resume).

    Fills ``run.info`` (command, reused, and for a reused run trained with other
    overrides than today's, which). ``force`` deletes the folders first.
    """
    todo: list[Run] = []
    for run in runs:
        w = (
            None
            if run.cost_multiplier is None
            else float(run.value("scenario.reward.w_cloud_cost"))
        )
        if force and run.run_dir.exists():
            shutil.rmtree(run.run_dir)
        run.info = {"command": run.command(), "reused": False}
        if run_files.run_finished(run.run_dir):
            check_same_run(run, case, w)
            run.info["reused"] = True
            note = ""
            before = recorded_overrides(run.run_dir)
            if before is not None and _canonical(before) != _canonical(run.overrides):
                a, b = _canonical(before), _canonical(run.overrides)
                both = [*before, *run.overrides]
                diff = sorted({o for o, c in zip(both, _each(both), strict=True) if c in a ^ b})
                run.info["trained_with_other_overrides"] = diff
                note = f"; trained with other overrides ({' '.join(diff)}): --force retrains"
            log(f"  {run.name}: finished earlier, reused ({run.run_dir}){note}")
            continue
        if (run.run_dir / run_files.CONFIG_FILE).is_file():
            # started earlier: its sweep resumes it (train.reuse=true), never deletes it
            check_same_run(run, case, w)
            run.info["resumed"] = True
        todo.append(run)
    return todo


def _stop(proc: subprocess.Popen) -> None:
    """One SIGINT to the sweep's process group (every job checkpoints), then wait."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)
    except (ProcessLookupError, PermissionError):
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def waves(sweeps: Sequence[Sweep], jobs: int) -> list[list[tuple[Sweep, int]]]:
    """Sweeps launched together while their runs fit in ``jobs`` (each sweep with as
    many parallel jobs as it has runs); a larger sweep runs alone with ``jobs``."""
    out: list[list[tuple[Sweep, int]]] = []
    wave: list[tuple[Sweep, int]] = []
    used = 0
    for sweep in sweeps:
        n = len(sweep.runs)
        if wave and used + n > jobs:
            out.append(wave)
            wave, used = [], 0
        wave.append((sweep, min(n, jobs)))
        used += n
    if wave:
        out.append(wave)
    return out


def _launch(
    sweep: Sweep, root: Path, launcher: str, jobs: int, log: Callable[[str], None]
) -> tuple[Sweep, list[str], Path, subprocess.Popen, float]:
    """Start one sweep's ``gainnet-train -m`` process, its output appended to its log."""
    cmd = sweep_command(sweep, root, launcher, jobs)
    root.mkdir(parents=True, exist_ok=True)
    log_path = root / f"{sweep.name}.log"
    names = ", ".join(r.name for r in sweep.runs)
    log(f"  sweep of {len(sweep.runs)} runs ({names}) on {launcher} (log {log_path})")
    with open(log_path, "a") as fh:  # an earlier session's log stays above this one's
        if fh.tell():
            fh.write("\n")
        fh.write(f"$ {display(cmd)}\n")
        fh.flush()
        # own session: a Ctrl-C reaches the jobs once, forwarded by _stop (a second
        # SIGINT would interrupt the checkpoint gainnet-train writes on the first)
        proc = subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, env=_child_env(), start_new_session=True
        )
    return sweep, cmd, log_path, proc, time.time()


def _check(
    sweep: Sweep, cmd: list[str], log_path: Path, rc: int, log: Callable[[str], None]
) -> list[str]:
    """Log each run's status; the failure line of a sweep that left runs unfinished."""
    bad = []
    for run in sweep.runs:
        run.info["sweep"] = display(cmd)
        st = run_files.read_json(run.run_dir / "status.json")
        log(f"  {run.name}: {st.get('status')} at {st.get('num_timesteps')} steps")
        if not run_files.run_finished(run.run_dir):
            bad.append(run.name)
    if rc == 0 and not bad:
        return []
    tail = log_path.read_text().strip().splitlines()[-3:] if log_path.is_file() else []
    return [
        f"{', '.join(bad) or 'no run'} unfinished (sweep exited with {rc}; "
        f"log {log_path}: {' | '.join(tail)})"
    ]


def train_runs(
    runs: Sequence[Run],
    case: CaseStudy,
    jobs: int,
    force: bool,
    log: Callable[[str], None] = print,
    launcher: str = "local",
) -> list[dict[str, Any]]:
    """Train (or reuse, or resume) every run, one Hydra sweep per group of runs,
    ``jobs`` runs at a time on ``launcher`` (sweeps whose runs fit together in
    ``jobs`` run at the same time, see :func:`waves`).

    Fills each ``run.info`` (command, status, steps, wall time, reused) and
    returns one record per sweep launched (command, log, exit code, wall time).
    Raises CaseStudyError naming the runs that did not finish and the logs.
    """
    todo = prepare(runs, case, force, log)
    root = runs[0].run_dir.parent if runs else Path(".")
    launched: list[dict[str, Any]] = []
    failed: list[str] = []
    for wave in waves(plan_sweeps(todo), jobs):
        started = []
        try:
            for sweep, n_jobs in wave:
                started.append(_launch(sweep, root, launcher, n_jobs, log))
            for sweep, cmd, log_path, proc, t0 in started:
                rc = proc.wait()
                wall = round(time.time() - t0, 1)
                launched.append(
                    {"command": display(cmd), "log": str(log_path), "exit": rc, "wall_s": wall}
                )
                failed += _check(sweep, cmd, log_path, rc, log)
        except BaseException:
            for *_, proc, _ in started:
                _stop(proc)
            raise
    for run in runs:
        st = run_files.read_json(run.run_dir / "status.json")
        run.info.update(
            status=st.get("status"),
            num_timesteps=st.get("num_timesteps"),
            train_wall_time_s=st.get("train_wall_time_s"),
            best_timesteps=st.get("best_timesteps"),
        )
    if failed:
        raise CaseStudyError("training failed:\n  " + "\n  ".join(failed))
    return launched
