"""``gainnet-train``: train an SB3 agent on a GainNet scenario (Hydra CLI).

A thin ``@hydra.main`` over :func:`gainnet_rl.agents.trainer.train`. Config:
``gainnet_rl/conf/train.yaml`` with the groups ``agent`` (maskable_ppo, ppo,
sac), ``scenario`` (small, medium, large, medical, vehicular) and
``experiment``::

    gainnet-train agent=sac scenario=medium scenario.load=1.5 seed=3
    gainnet-train train.resume=runs/2024-01-01/12-00-00_maskable_ppo_small_load1.0_seed0
    gainnet-train -m scenario=small,medium,large scenario.load=0.5,1.0,1.5 seed=0,1,2

The run folder is described in :mod:`gainnet_rl.agents.trainer`. The command
returns the run's best periodic-evaluation reward (validation seeds, never the
evaluation seeds of the final table): the objective Hydra's Optuna sweeper
maximises (``hydra/sweeper=tune_ppo``, ``scripts/tune.sh``).
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from gainnet_rl.agents.trainer import train
from gainnet_rl.envs.config import ConfigError, conf_dir
from gainnet_rl.evaluation.runs import ModelLoadError, discard_unstarted

#: when this command started (its import): what a rejected command may remove is newer
_STARTED = time.time()


def best_evaluation(run_dir: Path | str) -> dict[str, str] | None:
    """The run's periodic evaluation (an ``evaluations.csv`` row, on the
    validation seeds ``train.eval_first_seed`` on) with the highest mean
    episode reward: the score of the model kept as best/. None if the run
    made no periodic evaluation."""
    path = Path(run_dir) / "evaluations.csv"
    if not path.is_file():
        return None
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return max(rows, key=lambda r: float(r["reward_mean"])) if rows else None


def best_validation_reward(run_dir: Path | str) -> float:
    """The mean episode reward (reward units) of :func:`best_evaluation`;
    NaN if the run made no periodic evaluation."""
    row = best_evaluation(run_dir)
    return float("nan") if row is None else float(row["reward_mean"])


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="train")
def _hydra_main(cfg: DictConfig) -> float:
    hc = HydraConfig.get()
    try:
        out = train(cfg, Path(hc.runtime.output_dir), list(hc.overrides.task))
    except (ConfigError, ModelLoadError) as exc:
        if hc.mode == RunMode.MULTIRUN:
            raise
        # a rejected command leaves no run folder behind (Hydra made it before the
        # checks); a resumed run's folder is never touched
        if not cfg.train.get("resume"):
            discard_unstarted(Path(hc.runtime.output_dir), str(hc.job.name), _STARTED)
        print(f"gainnet-train: {exc}", file=sys.stderr)
        sys.exit(2)
    return best_validation_reward(out["run_dir"])


def main() -> None:
    """Console-script entry point."""
    _hydra_main()


if __name__ == "__main__":
    main()
