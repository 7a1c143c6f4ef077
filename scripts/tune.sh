#!/usr/bin/env bash
# Hyperparameter search for the default agent (MaskablePPO) on one grid cell
# with Hydra's Optuna sweeper (gainnet_rl/conf/hydra/sweeper/tune_ppo.yaml:
# the search space, TPE seeded), then the table of trials.
#
#   bash scripts/tune.sh                                 # small, load 1: 16 trials x 200k steps
#   TUNE_TRIALS=30 TUNE_STEPS=500000 bash scripts/tune.sh scenario=medium scenario.load=1.5
#   TUNE_EVAL_EPISODES=50 ...      # validation episodes per periodic evaluation (100)
#
# Extra arguments are gainnet-train overrides (the cell, seed, ...). Each trial
# is one run folder, TUNE_DIR/trial<k> (TUNE_DIR: runs/tune), beside
# TUNE_DIR/default, the agent's defaults on the same budget; the objective is
# the best periodic-evaluation reward over 100 validation episodes (seeds
# 100000 on, the same for every trial, so trials compare on common random
# numbers; the evaluation seeds 1000 on are never seen). A budget in steps,
# not minutes, so a trial's result does not depend on the machine's load.
# The trials table goes to TUNE_OUT (docs/results/tune/): trials.csv,
# trials.md and the sweeper's optimization_results.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${TUNE_DIR:-runs/tune}
OUT=${TUNE_OUT:-docs/results/tune}
if [ -e "$DIR" ]; then
  # the study lives in memory: a second search into the same folders would mix
  # its trials with the first one's
  echo "tune.sh: TUNE_DIR=$DIR exists: remove it or set TUNE_DIR to a new folder" >&2
  exit 2
fi
common=("train.total_timesteps=${TUNE_STEPS:-200000}" "train.eval_episodes=${TUNE_EVAL_EPISODES:-100}"
  evaluate.episodes=20 'evaluate.baselines=[]' torch_threads=1 train.progress_bar=false)
# the defaults (conf/agent/maskable_ppo.yaml) on the same budget: the reference
# the trials are read against (the sampler need not draw them)
.venv/bin/gainnet-train "${common[@]}" "hydra.run.dir=$DIR/default" "$@" >/dev/null &
reference=$!
.venv/bin/gainnet-train -m hydra/sweeper=tune_ppo "hydra.sweep.dir=$DIR" \
  'hydra.sweep.subdir=trial${hydra.job.num}' "hydra.sweeper.n_trials=${TUNE_TRIALS:-16}" \
  "${common[@]}" "$@"
wait $reference
.venv/bin/python scripts/tune_table.py "$DIR" --out "$OUT"
