"""Copy a finished run's best policy into a small folder to commit (issue 14).

    python scripts/export_policy.py RUN_DIR docs/results/policies/small

Writes OUT_DIR as a run folder that ``gainnet-evaluate OUT_DIR`` reads on a
fresh clone: the run's ``config.yaml``, ``command.txt``, ``versions.json``,
``status.json``, ``evaluations.csv`` and final evaluation (``eval/``), and
``best/`` with the model, its VecNormalize statistics and meta. The model is
saved again without the optimiser's moment estimates (a fresh Adam state:
the weights, and so every action, are unchanged; training it further starts
its moments anew), which are two thirds of an SB3 zip. Refuses to overwrite
an existing OUT_DIR.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from gainnet_rl.evaluation import runs

FILES = ("config.yaml", "command.txt", "versions.json", "status.json", "evaluations.csv")
EVAL_FILES = ("table.md", "summary.json", "results.csv", "episodes.csv")


def export(run_dir: Path, out_dir: Path) -> Path:
    """Write ``out_dir`` from ``run_dir`` (see the module docstring); returns its model.zip."""
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} exists: remove it first")
    if not runs.run_finished(run_dir):
        raise ValueError(f"{run_dir} is not a finished run (no best/ or final/ model)")
    cfg = runs.load_run_config(run_dir)
    cls = runs.algo_class(cfg)
    src = runs.resolve_model_dir(run_dir, "best")
    model = runs.load_model(src, cls, device="cpu")
    opt = model.policy.optimizer
    model.policy.optimizer = type(opt)(model.policy.parameters(), **opt.defaults)
    with tempfile.TemporaryDirectory(dir=out_dir.parent if out_dir.parent.exists() else None) as t:
        tmp = Path(t) / out_dir.name
        (tmp / "best").mkdir(parents=True)
        (tmp / "eval").mkdir()
        for name in FILES:
            if (run_dir / name).is_file():
                shutil.copy2(run_dir / name, tmp / name)
        for name in EVAL_FILES:
            if (run_dir / "eval" / name).is_file():
                shutil.copy2(run_dir / "eval" / name, tmp / "eval" / name)
        for name in (runs.VECNORM_FILE, "meta.json"):
            if (src / name).is_file():
                shutil.copy2(src / name, tmp / "best" / name)
        model.save(str(tmp / "best" / runs.MODEL_FILE))
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(tmp), str(out_dir))
    return out_dir / "best" / runs.MODEL_FILE


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("out_dir", type=Path)
    args = ap.parse_args()
    try:
        f = export(args.run_dir, args.out_dir)
    except (FileExistsError, ValueError, runs.ModelLoadError) as exc:
        print(f"export_policy: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out_dir} (model {f.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
