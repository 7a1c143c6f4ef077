#!/usr/bin/env bash
# The size x load grid of issue 14: MaskablePPO (the default agent) on small,
# medium and large at loads 0.5, 1, 1.5 and 2, seeds 0-2; one generalist
# MaskablePPO trained with the cell drawn per episode (env.mix=true) and
# evaluated on every cell; SAC (with the residual prior) on the load-1
# column; then gainnet-report writes docs/results/grid/.
#
#   bash scripts/grid.sh                 # run (or continue) the whole grid
#   GRID_MINUTES=20 bash scripts/grid.sh # a larger wall-clock budget per run (10)
#   GRID_EPISODES=50 ...                 # evaluation episodes per run (100)
#   GENERALIST_MINUTES=30 ...            # the generalist's budget (default 4x)
#   GRID_PARTS="specialists sac" ...     # some of: specialists generalist sac
#                                        # report (default: all four, in order)
#   GRID_LOADS=2.0,1.5 GRID_SIZES=small GRID_PARTS=specialists ...
#                                        # part of the specialists' sweep only
#   GRID_DIR=runs/grid GRID_OUT=runs/grid/report ...  # elsewhere than docs/
#
# Resumable: every job has a fixed folder under $GRID_DIR and train.reuse=true,
# so a finished run (also one stopped by its budget) is reused and an
# interrupted one continues from its last checkpoint with this invocation's
# budget (train.max_minutes counts over all of a run's sessions); rerun the
# script after an interruption. To give a finished run more time:
# gainnet-train train.resume=RUN_DIR train.max_minutes=M. Two jobs run at a
# time (the joblib launcher), torch_threads=1 each.
set -euo pipefail
cd "$(dirname "$0")/.."
GRID_DIR=${GRID_DIR:-docs/results/grid/sweep}
MIN=${GRID_MINUTES:-10}
EPISODES=${GRID_EPISODES:-100}
ALL_SIZES=small,medium,large
ALL_LOADS=0.5,1.0,1.5,2.0
SIZES=${GRID_SIZES:-$ALL_SIZES}
LOADS=${GRID_LOADS:-$ALL_LOADS}
ALL_PARTS="specialists generalist sac report"
PARTS=" ${GRID_PARTS-$ALL_PARTS} "
part() { [[ $PARTS == *" $1 "* ]]; }
if [ -n "${GRID_SPECIALISTS_ONLY:-}" ]; then
  echo "grid.sh: GRID_SPECIALISTS_ONLY is now GRID_PARTS=specialists" >&2
  exit 2
fi
if [ -z "${PARTS// /}" ]; then
  echo "grid.sh: GRID_PARTS is empty; allowed: some of $ALL_PARTS" >&2
  exit 2
fi
for p in $PARTS; do
  if [[ " $ALL_PARTS " != *" $p "* ]]; then
    echo "grid.sh: GRID_PARTS has '$p'; allowed: $ALL_PARTS" >&2
    exit 2
  fi
done
# a job's folder is named by its overrides alone (no job number), so a sweep
# over part of the grid (GRID_LOADS=2.0,1.5) and a later one over all of it
# share their folders
common=(train.reuse=true "train.max_minutes=$MIN" train.total_timesteps=3000000
  "evaluate.episodes=$EPISODES" 'hydra.sweep.subdir=${hydra.job.override_dirname}')
if part specialists; then
  .venv/bin/gainnet-train -m "scenario=$SIZES" "scenario.load=$LOADS" \
    seed=0,1,2 "${common[@]}" "hydra.sweep.dir=$GRID_DIR/maskable_ppo" "$@"
fi
GEN=$GRID_DIR/generalist/seed0
if part generalist; then
  .venv/bin/gainnet-train env.mix=true scenario=medium agent.policy_kwargs.plan_prior=default \
    "${common[@]}" "train.max_minutes=${GENERALIST_MINUTES:-$(awk "BEGIN{print 4 * $MIN}")}" \
    "hydra.run.dir=$GEN" "$@"
  # each cell into $GEN/eval_<scenario>_load<load>/, which gainnet-report reads
  # (skipped once every cell is there: a committed sweep keeps them, not the model)
  cells=$(($(tr , '\n' <<<"$ALL_SIZES" | wc -l) * $(tr , '\n' <<<"$ALL_LOADS" | wc -l)))
  if [ "$(ls "$GEN"/eval_*_load*/episodes.csv 2>/dev/null | wc -l)" -lt "$cells" ]; then
    .venv/bin/gainnet-evaluate -m "run=$GEN" "scenario=$ALL_SIZES" \
      "scenario.load=$ALL_LOADS" "baselines=[]" "episodes=$EPISODES"
  fi
fi
# SAC with the default agent's residual prior, scaled to its bounded scores
# (docs/training.md, "The default agent's prior"; off in sac.yaml)
if part sac; then
  .venv/bin/gainnet-train -m agent=sac "scenario=${GRID_SAC_SIZES:-$ALL_SIZES}" \
    scenario.load=1.0 seed=0,1,2 +agent.policy_kwargs.reward_prior=1.0 \
    +agent.policy_kwargs.plan_prior=greedy_best_plan +agent.policy_kwargs.plan_prior_logit=1.5 \
    "${common[@]}" "hydra.sweep.dir=$GRID_DIR/sac" "$@"
fi
if part report; then
  .venv/bin/gainnet-report "$GRID_DIR" --out "${GRID_OUT:-docs/results/grid}"
fi
