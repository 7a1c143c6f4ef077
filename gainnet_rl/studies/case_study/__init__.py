"""``gainnet-case-study CASE``: train, evaluate and plot one case study end to end.

    gainnet-case-study medical_summarization            # full: ~45 min on 2 cores
    gainnet-case-study vehicular --quick                # a few minutes, to try it out
    gainnet-case-study vehicular --out DIR --jobs 2 --force
    gainnet-case-study vehicular --quick --launcher ray_local   # the sweeps on a local Ray

1. **Training.** MaskablePPO and SAC, seeds 0, 1, 2, on the case study's
   experiment config (``conf/experiment/<case>.yaml``: its scenario and
   training budget), each an ordinary ``gainnet-train`` run folder
   ``OUT/runs/<agent>_seed<k>/``. The runs are Hydra sweeps
   (``gainnet-train -m ... train.reuse=true``, :mod:`.plan`), run by the
   ``--launcher`` (default ``local``: joblib, ``--jobs`` runs at a time, one
   torch thread each; ``ray_local``, ``submitit_local``, or a cluster's
   ``ray_cluster`` / ``slurm``). In full mode MaskablePPO is also trained
   (seed 0, shorter budget) with the cloud-cost weight scaled, for the
   cost-quality front (``maskable_ppo_wcloud<weight>_seed0``). A run folder
   that finished is reused (``--force`` retrains it); an interrupted one
   resumes from its last checkpoint with the wall-clock budget it has left, so
   running the same command again after an interrupt continues the study.
2. **Evaluation.** Every agent (the best model of each seed, through
   :func:`gainnet_rl.evaluation.runs.load_policy` and
   :func:`gainnet_rl.evaluation.rollout.evaluate`) and every baseline, on the
   same held-out seeds. Files written into OUT (each figure with the CSV
   behind it; every file written atomically):

   - ``learning_curves.png/.csv``: periodic-evaluation reward against env
     steps, mean and 95% CI over training seeds, baselines as levels;
   - ``qos_vs_load.png/.csv``: deadline-met ratio, mean quality and p95
     latency against the load;
   - ``cost_quality.png/.csv``: mean quality against cloud cost as the
     cloud-cost weight varies, with the Pareto front;
   - ``robustness.png/.csv``: reward and deadline-met ratio per frame over an
     episode in which edge 0 fails, or every edge loses half its compute,
     at half the episode;
   - ``knowledge_flow.png/.csv``: mean served quality per frame with the
     knowledge flow on and off;
   - ``table.md`` (agents beside baselines at load 1.0), ``summary.json``
     (what was run: commands, budgets, seeds, steps reached, wall time).

Default OUT: ``docs/results/<case>/`` (full) and
``runs/case_studies/<case>-quick/`` (``--quick``), relative to the current
directory. Exit codes: 0 done; 1 a training run failed, a run folder holds
another run or lacks its periodic evaluations; 2 bad arguments or an
unreadable saved model; 130 interrupted.
"""

from gainnet_rl.studies.case_study.cli import main
from gainnet_rl.studies.case_study.figures import pareto
from gainnet_rl.studies.case_study.launch import train_runs
from gainnet_rl.studies.case_study.measure import Policy, event_conditions, load_agent
from gainnet_rl.studies.case_study.plan import (
    BUDGETS,
    CASE_STUDIES,
    LAUNCHERS,
    Budget,
    CaseStudy,
    CaseStudyError,
    Run,
    Sweep,
    plan_runs,
    plan_sweeps,
    sweep_command,
)
from gainnet_rl.studies.case_study.study import run_case_study

__all__ = [
    "BUDGETS",
    "CASE_STUDIES",
    "LAUNCHERS",
    "Budget",
    "CaseStudy",
    "CaseStudyError",
    "Policy",
    "Run",
    "Sweep",
    "event_conditions",
    "load_agent",
    "main",
    "pareto",
    "plan_runs",
    "plan_sweeps",
    "run_case_study",
    "sweep_command",
    "train_runs",
]
