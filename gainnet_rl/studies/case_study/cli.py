"""``gainnet-case-study CASE``: the command line of :func:`.study.run_case_study`."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from gainnet_rl.envs.config import ConfigError
from gainnet_rl.evaluation.runs import ModelLoadError
from gainnet_rl.studies.case_study.plan import CASE_STUDIES, LAUNCHERS, PROG, CaseStudyError
from gainnet_rl.studies.case_study.study import run_case_study


def _case(value: str) -> str:
    if value not in CASE_STUDIES:
        raise argparse.ArgumentTypeError(
            f"case study {value!r} is unknown: must be one of {list(CASE_STUDIES)}"
        )
    return value


def _jobs(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"--jobs={value!r} is invalid: must be an integer >= 1")
    return n


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit code."""
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="Train, evaluate and plot one case study end to end "
        "(see docs/case_studies.md).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("case", type=_case, help=f"one of {list(CASE_STUDIES)}")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="tiny training budgets and few episodes (a few minutes; default --out "
        "runs/case_studies/<case>-quick)",
    )
    ap.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # the tests'
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default docs/results/<case>; with --quick "
        "runs/case_studies/<case>-quick)",
    )
    ap.add_argument(
        "--runs",
        type=Path,
        default=None,
        help="training run folders (default: OUT/runs with --out, else "
        "runs/case_studies/<case>/runs, or runs/case_studies/<case>-quick/runs with --quick)",
    )
    ap.add_argument(
        "--jobs",
        type=_jobs,
        default=2,
        help="training runs in parallel on a local launcher (default 2), >= 1",
    )
    ap.add_argument(
        "--launcher",
        choices=LAUNCHERS,
        default="local",
        help="the Hydra launcher of the training sweeps (conf/hydra/launcher/): local "
        "(joblib, default), ray_local, submitit_local; ray_cluster and slurm on a cluster "
        "(pip install -e '.[cluster]' for Ray and submitit)",
    )
    ap.add_argument(
        "--force", action="store_true", help="retrain the runs in the runs folder (see --runs)"
    )
    args = ap.parse_args(argv)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        ap.error(f"--out={str(args.out)!r} is invalid: it exists and is not a folder")

    def _terminate(signum: int, frame: Any) -> None:  # SIGTERM: stop as on Ctrl-C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        run_case_study(
            args.case,
            mode,
            args.out,
            args.jobs,
            args.force,
            args.runs,
            launcher=args.launcher,
            argv=argv if argv is not None else sys.argv[1:],
        )
    except KeyboardInterrupt:
        print(
            f"\n{PROG}: interrupted; the runs wrote checkpoints. Run the same command again "
            "to continue (finished runs are reused).",
            file=sys.stderr,
        )
        return 130
    except (ConfigError, ModelLoadError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except CaseStudyError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
