"""Run folders, atomic checkpoints, and loading saved policies.

A saved policy is a *model directory*::

    model.zip          the SB3 model (policy, optimiser, num_timesteps)
    vecnormalize.pkl   VecNormalize statistics, when the run used VecNormalize
    replay_buffer.pkl  off-policy agents, in checkpoints only (optional)
    meta.json          num_timesteps, agent, when it was written

A run folder holds ``best/`` and ``final/`` model directories and
``checkpoints/step_<N>/`` ones. Every file is written to a temporary name and
moved into place with ``os.replace``; a checkpoint directory is assembled
under a temporary name and renamed in one step, then ``checkpoints/latest``
is pointed at it. A run killed at any moment therefore leaves the previous
checkpoint complete and loadable.
"""

from __future__ import annotations

import importlib.metadata as md
import inspect
import json
import os
import pickle
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from gainnet_rl.io import atomic_write, atomic_write_text, fsync_dir, write_json

MODEL_FILE = "model.zip"
VECNORM_FILE = "vecnormalize.pkl"
REPLAY_FILE = "replay_buffer.pkl"
META_FILE = "meta.json"
STATE_FILE = "state.json"
CONFIG_FILE = "config.yaml"
CHECKPOINTS = "checkpoints"
LATEST = "latest"


class ModelLoadError(RuntimeError):
    """A saved model or run folder is missing, incomplete or unreadable."""


def unwrap_vecnormalize(env: Any) -> Any:
    from stable_baselines3.common.vec_env import VecEnvWrapper, VecNormalize

    while isinstance(env, VecEnvWrapper):
        if isinstance(env, VecNormalize):
            return env
        env = env.venv
    return None


def _write_model_files(
    directory: Path, model: Any, meta: dict[str, Any], replay_buffer: bool
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    vecnorm = unwrap_vecnormalize(model.get_env())
    if vecnorm is not None:
        atomic_write(directory / VECNORM_FILE, vecnorm.save)
    if replay_buffer and getattr(model, "replay_buffer", None) is not None:
        atomic_write(directory / REPLAY_FILE, model.save_replay_buffer)
    atomic_write(directory / MODEL_FILE, model.save)
    write_json(
        directory / META_FILE,
        {**meta, "num_timesteps": int(model.num_timesteps), "written": time.time()},
    )


def save_model_dir(directory: Path, model: Any, meta: dict[str, Any] | None = None) -> None:
    """Save ``model`` (and its VecNormalize statistics) into ``directory``.

    Each file is replaced atomically; ``model.zip`` is written last.
    """
    _write_model_files(Path(directory), model, dict(meta or {}), replay_buffer=False)


def save_checkpoint(
    run_dir: Path,
    model: Any,
    state: dict[str, Any],
    replay_buffer: bool = True,
    keep: int = 2,
) -> Path:
    """Write ``checkpoints/step_<N>/`` atomically, point ``checkpoints/latest`` at it,
    and delete all but the newest ``keep`` checkpoints. Returns the directory."""
    root = Path(run_dir) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    name = f"step_{int(model.num_timesteps):012d}"
    final = root / name
    tmp = root / f".tmp-{name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    _write_model_files(tmp, model, {"checkpoint": name}, replay_buffer=replay_buffer)
    write_json(tmp / STATE_FILE, {**state, "num_timesteps": int(model.num_timesteps)})
    fsync_dir(tmp)
    if final.exists():  # same step saved again (e.g. the end of a run): replace it
        old = root / f".old-{name}-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    fsync_dir(root)
    atomic_write_text(root / LATEST, name + "\n")
    for old_ckpt in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old_ckpt, ignore_errors=True)
    return final


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoint directories (model.zip and state.json present), oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    dirs = [
        d
        for d in root.iterdir()
        if d.is_dir()
        and d.name.startswith("step_")
        and (d / MODEL_FILE).is_file()
        and (d / STATE_FILE).is_file()
    ]
    return sorted(dirs, key=lambda d: d.name)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint ``checkpoints/latest`` names, else the newest complete one."""
    root = Path(run_dir) / CHECKPOINTS
    pointer = root / LATEST
    complete = list_checkpoints(run_dir)
    if pointer.is_file():
        named = root / pointer.read_text().strip()
        if named in complete:
            return named
    return complete[-1] if complete else None


def read_state(checkpoint: Path) -> dict[str, Any]:
    try:
        return json.loads((Path(checkpoint) / STATE_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(
            f"checkpoint state {checkpoint / STATE_FILE} is unreadable: {exc}"
        ) from None


# ------------------------------------------------------------------ loading


def _is_run_config(f: Path) -> bool:
    """Is ``f`` a config.yaml of gainnet-train (it names the agent's ``_target_``)?"""
    try:
        cfg = OmegaConf.load(f)
    except Exception:
        return True  # unreadable: load_run_config reports it
    return isinstance(cfg, DictConfig) and bool(OmegaConf.select(cfg, "agent._target_"))


def find_config(path: Path, levels: int = 3) -> Path | None:
    """The run's ``config.yaml``: in ``path`` or one of its ``levels`` parents
    (a config.yaml there that gainnet-train did not write is passed over)."""
    p = Path(path).resolve()
    if p.is_file():
        p = p.parent
    for _ in range(levels + 1):
        if (p / CONFIG_FILE).is_file() and _is_run_config(p / CONFIG_FILE):
            return p / CONFIG_FILE
        if p.parent == p:
            break
        p = p.parent
    return None


def resolve_model_dir(path: Path, which: str = "best") -> Path:
    """The model directory that ``path`` designates.

    ``path`` may be a run folder (its ``which`` model, ``best`` or ``final``,
    falling back to the other one and then to the latest checkpoint), a model
    directory, or a ``.zip`` file (``<dir>/model.zip`` designates ``<dir>``;
    a zip of another name is returned as it is, and loaded as named).
    """
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"{path} does not exist: give a run folder, a model folder or a .zip")
    if path.is_file():
        if path.suffix != ".zip":
            raise ModelLoadError(f"{path} is not a model file: expected a .zip written by SB3")
        return path.parent if path.name == MODEL_FILE else path
    if (path / MODEL_FILE).is_file():
        return path
    if (path / CONFIG_FILE).is_file():
        order = [which, "final" if which == "best" else "best"]
        for name in order:
            if (path / name / MODEL_FILE).is_file():
                return path / name
        ckpt = latest_checkpoint(path)
        if ckpt is not None:
            return ckpt
        raise ModelLoadError(
            f"run folder {path} holds no saved model yet (no best/, final/ or "
            f"checkpoints/ with a {MODEL_FILE})"
        )
    raise ModelLoadError(
        f"{path} is neither a run folder (no {CONFIG_FILE}) nor a model folder (no {MODEL_FILE})"
    )


def load_run_config(path: Path) -> DictConfig:
    cfg_path = find_config(path)
    if cfg_path is None:
        raise ModelLoadError(
            f"no {CONFIG_FILE} found in or above {path}: gainnet-evaluate needs the config the "
            "model was trained with (give the run folder gainnet-train wrote)"
        )
    try:
        cfg = OmegaConf.load(cfg_path)
    except Exception as exc:
        raise ModelLoadError(f"{cfg_path} is not a readable config: {exc}") from None
    assert isinstance(cfg, DictConfig)
    return cfg


def algo_class(cfg: DictConfig) -> type:
    target = cfg.agent.get("_target_")
    try:
        return get_class(str(target))
    except Exception as exc:
        raise ModelLoadError(f"agent._target_={target!r} in the run config: {exc}") from None


def check_zip(f: Path) -> None:
    """Raise ModelLoadError unless ``f`` is a non-empty zip archive."""
    if not f.is_file():
        raise ModelLoadError(f"model file {f} is missing")
    if f.stat().st_size == 0:
        raise ModelLoadError(f"model file {f} is empty (corrupt or truncated)")
    if not zipfile.is_zipfile(f):
        raise ModelLoadError(
            f"model file {f} is corrupt or truncated (not a zip archive); "
            "use another checkpoint of the run"
        )


def load_model(model_dir: Path, cls: type, env: Any = None, device: str = "auto") -> Any:
    """Load ``model_dir/model.zip`` (or a ``.zip`` path) with SB3, turning every
    failure into ModelLoadError."""
    model_dir = Path(model_dir)
    f = model_dir if model_dir.suffix == ".zip" else model_dir / MODEL_FILE
    check_zip(f)
    try:
        with warnings.catch_warnings():
            # SB3 re-saves replay_buffer_class=NStepReplayBuffer with n_steps and warns
            # that n_steps is then ignored; the buffer (if resumed) is loaded whole.
            warnings.filterwarnings("ignore", message=r"`n_steps=\d+` is ignored")
            return cls.load(str(f), env=env, device=device)
    except (zipfile.BadZipFile, EOFError, pickle.UnpicklingError) as exc:
        raise ModelLoadError(
            f"model file {f} is corrupt or truncated ({type(exc).__name__}: {exc}); "
            "use another checkpoint of the run"
        ) from None
    except Exception as exc:
        raise ModelLoadError(
            f"model file {f} could not be loaded as {cls.__name__}: corrupt, truncated or "
            f"written by another agent ({type(exc).__name__}: {exc})"
        ) from None


def load_vecnormalize(model_dir: Path) -> Any | None:
    """The VecNormalize statistics saved beside the model (no env attached), or None."""
    model_dir = Path(model_dir)
    f = (model_dir.parent if model_dir.suffix == ".zip" else model_dir) / VECNORM_FILE
    if not f.is_file():
        return None
    try:
        with open(f, "rb") as fh:
            return pickle.load(fh)
    except Exception as exc:
        raise ModelLoadError(f"{f} is corrupt or truncated ({type(exc).__name__}: {exc})") from None


class LearnedPolicy:
    """An SB3 model behind the ``predict`` interface :func:`evaluate` calls.

    Normalises observations with the saved VecNormalize statistics (when the
    run normalised observations) and passes action masks to maskable models.
    """

    def __init__(self, model: Any, vecnormalize: Any | None = None) -> None:
        self.model = model
        self.vecnormalize = vecnormalize if getattr(vecnormalize, "norm_obs", False) else None
        self.takes_masks = "action_masks" in inspect.signature(model.predict).parameters

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
        action_masks: Any = None,
    ) -> tuple[np.ndarray, Any]:
        obs = observation
        if self.vecnormalize is not None:
            obs = self.vecnormalize.normalize_obs(obs)
        kwargs: dict[str, Any] = {
            "state": state,
            "episode_start": episode_start,
            "deterministic": deterministic,
        }
        if self.takes_masks and action_masks is not None:
            kwargs["action_masks"] = action_masks
        return self.model.predict(obs, **kwargs)


def load_policy(
    path: Path, which: str = "best", device: str = "auto"
) -> tuple[LearnedPolicy, DictConfig, Path]:
    """Load a saved policy and the config it was trained with.

    Returns (policy, run config, model directory). Raises ModelLoadError with
    a message naming the file on a missing or corrupt model.
    """
    model_dir = resolve_model_dir(Path(path), which)
    cfg = load_run_config(model_dir)
    model = load_model(model_dir, algo_class(cfg), device=device)
    return LearnedPolicy(model, load_vecnormalize(model_dir)), cfg, model_dir


#: Packages whose versions go into versions.json.
PACKAGES = (
    "gainnet-rl",
    "numpy",
    "scipy",
    "gymnasium",
    "torch",
    "stable-baselines3",
    "sb3-contrib",
    "hydra-core",
    "omegaconf",
    "tensorboard",
)


def versions() -> dict[str, Any]:
    """Python, platform, package versions, torch threads and git commit, for versions.json."""
    out: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {},
    }
    for pkg in PACKAGES:
        try:
            out["packages"][pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out["packages"][pkg] = None
    try:
        import torch

        out["torch_threads"] = torch.get_num_threads()
    except ImportError:
        out["torch_threads"] = None
    try:
        root = Path(__file__).resolve().parents[2]
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        if commit.returncode == 0:
            out["git_commit"] = commit.stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=5,
            )
            out["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def write_command(run_dir: Path, argv: Sequence[str], overrides: Sequence[str]) -> None:
    """Append this invocation (and the overrides that redo this job alone) to command.txt."""
    prog = Path(argv[0]).name if argv else "gainnet-train"
    if prog.endswith(".py") or prog in ("python", "python3", "__main__.py"):
        prog = "gainnet-train"
    block = [
        f"# {time.strftime('%Y-%m-%d %H:%M:%S')}  cwd: {os.getcwd()}",
        shlex.join([prog, *argv[1:]]),
        "# this job alone:",
        shlex.join(["gainnet-train", *overrides]),
    ]
    path = run_dir / "command.txt"
    old = path.read_text() if path.is_file() else ""
    atomic_write_text(path, old + "\n".join(block) + "\n\n")


def write_status(run_dir: Path, **fields: Any) -> None:
    """Merge ``fields`` into the run's status.json (atomically), stamped with the time."""
    path = run_dir / "status.json"
    old: dict[str, Any] = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            old = {}
    write_json(path, {**old, **fields, "updated": time.strftime("%Y-%m-%d %H:%M:%S")})


def truncate_evaluations(run_dir: Path, steps: int) -> None:
    """Drop the evaluations an interrupted session logged after its last checkpoint."""
    path = run_dir / "evaluations.csv"
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    if not lines:
        return
    kept = [lines[0]] + [ln for ln in lines[1:] if int(float(ln.split(",", 1)[0])) <= steps]
    atomic_write_text(path, "".join(kept))


#: status.json values of a run that completed (its budget or its steps).
DONE_STATUSES = ("finished", "stopped_by_max_minutes")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object file, or {} if it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def run_finished(run_dir: Path, results_only: bool = False) -> bool:
    """Did gainnet-train finish this run folder (status.json, and a saved model)?

    With ``results_only``, a finished run whose models were not kept but whose
    evaluation was (``eval/episodes.csv``: what a committed sweep such as
    docs/results/grid/sweep/ holds) counts as finished too.
    """
    run_dir = Path(run_dir)
    status = read_json(run_dir / "status.json").get("status")
    kept = any((run_dir / d / MODEL_FILE).is_file() for d in ("best", "final")) or (
        results_only and (run_dir / "eval" / "episodes.csv").is_file()
    )
    return status in DONE_STATUSES and kept


def discard_unstarted(run_dir: Path, job_name: str, since: float) -> bool:
    """Remove what Hydra wrote for a command that was then rejected.

    Only files this process wrote (modified at or after ``since``, the time the
    command started) with Hydra's own names are removed: ``.hydra/{config,
    hydra,overrides}.yaml`` and an empty ``<job_name>.log``; then the folder (and a
    Hydra date folder ``runs/<YYYY-MM-DD>/`` above it) if left empty. A folder
    holding a ``config.yaml`` or anything else is left as it is. Returns whether
    the folder was removed.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or (run_dir / CONFIG_FILE).exists():
        return False
    hydra_dir = run_dir / ".hydra"
    ours = [run_dir / f"{job_name}.log"]
    ours += [hydra_dir / f"{n}.yaml" for n in ("config", "hydra", "overrides")]
    for f in ours:
        try:
            st = f.stat() if f.is_file() else None
            # the log only while empty: a user's own log of that name is never removed
            if st and st.st_mtime >= since - 1.0 and (f.suffix == ".yaml" or st.st_size == 0):
                f.unlink()
        except OSError:
            pass
    for d in (hydra_dir, run_dir):
        try:
            d.rmdir()  # only if empty
        except OSError:
            return False
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", run_dir.parent.name):
        try:
            run_dir.parent.rmdir()  # runs/<date>/ when it held only this run
        except OSError:
            pass
    return True
