#!/usr/bin/env bash
# The size x load grid of issue 14: MaskablePPO (the default agent) on small,
# medium and large at loads 0.5, 1, 1.5 and 2, seeds 0-2; one generalist
# MaskablePPO trained with the cell drawn per episode (env.mix=true) and
# evaluated on every cell; SAC on the load-1 column; then gainnet-report
# writes docs/results/grid/.
#
#   bash scripts/grid.sh                 # run (or continue) the whole grid
#   GRID_MINUTES=20 bash scripts/grid.sh # a larger wall-clock budget per run
#   GENERALIST_MINUTES=30 ...            # the generalist's budget (default 4x)
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
GRID_DIR=${GRID_DIR:-runs/grid}
MIN=${GRID_MINUTES:-8}
EPISODES=${GRID_EPISODES:-50}
common=(train.reuse=true "train.max_minutes=$MIN" train.total_timesteps=3000000
  "evaluate.episodes=$EPISODES")
.venv/bin/gainnet-train -m scenario=small,medium,large scenario.load=0.5,1.0,1.5,2.0 \
  seed=0,1,2 "${common[@]}" "hydra.sweep.dir=$GRID_DIR/maskable_ppo" "$@"
GEN=$GRID_DIR/generalist/seed0
.venv/bin/gainnet-train env.mix=true scenario=medium agent.policy_kwargs.plan_prior=default \
  "${common[@]}" "train.max_minutes=${GENERALIST_MINUTES:-$(awk "BEGIN{print 4 * $MIN}")}" "hydra.run.dir=$GEN" "$@"
# each cell into $GEN/eval_<scenario>_load<load>/, which gainnet-report reads
.venv/bin/gainnet-evaluate -m "run=$GEN" scenario=small,medium,large \
  scenario.load=0.5,1.0,1.5,2.0 "baselines=[]" "episodes=$EPISODES"
.venv/bin/gainnet-train -m agent=sac scenario=small,medium,large scenario.load=1.0 \
  seed=0,1,2 "${common[@]}" "hydra.sweep.dir=$GRID_DIR/sac" "$@"
.venv/bin/gainnet-report "$GRID_DIR" --out docs/results/grid
