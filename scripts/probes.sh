#!/usr/bin/env bash
# Probes of issue 14's learning result (docs/training.md, "Probes"): one
# hypothesis each, one training seed, evaluated beside every baseline on 100
# held-out episodes (seeds 1000-1099); each table is copied to
# docs/results/probes/<name>.md with the run's steps.
#
#   bash scripts/probes.sh sac_prior   # SAC with the residual prior, small, load 1
#   bash scripts/probes.sh entropy     # MaskablePPO on small at load 2: ent_coef 0.005 (default) vs 0
#   bash scripts/probes.sh budget      # MaskablePPO on small at load 1.5 and large at load 2
#   bash scripts/probes.sh sac_budget  # sac_prior at 30 minutes (PROBE_MINUTES, default 30 here)
#   PROBE_MINUTES=20 bash scripts/probes.sh entropy   # a larger wall-clock budget per run
#
# Runs go to runs/probes/<name>/ (train.reuse=true: a finished run is reused).
# The two runs of `entropy` (and of `budget`) train at the same time, one core each.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${PROBE_DIR:-runs/probes}
OUT=docs/results/probes
if [ "${1:-}" = sac_budget ]; then MIN=${PROBE_MINUTES:-30}; else MIN=${PROBE_MINUTES:-10}; fi
common=(train.reuse=true "train.max_minutes=$MIN" train.total_timesteps=3000000
  evaluate.episodes=100 torch_threads=1 train.progress_bar=false)
run() {
  local name=$1
  shift
  .venv/bin/gainnet-train "${common[@]}" "hydra.run.dir=$DIR/$name" "$@"
  mkdir -p "$OUT"
  {
    echo "# $name"
    echo
    echo "\`gainnet-train ${common[*]} $*\` (git $(git rev-parse --short HEAD));"
    echo "$(grep -o '"num_timesteps": [0-9]*' "$DIR/$name/status.json") steps."
    echo
    cat "$DIR/$name/eval/table.md"
  } >"$OUT/$name.md"
}
# SAC with the residual prior (docs/training.md): the sac_prior and sac_budget cases
sac_prior_args=(agent=sac +agent.policy_kwargs.reward_prior=1.0
  +agent.policy_kwargs.plan_prior=greedy_best_plan +agent.policy_kwargs.plan_prior_logit=1.5)
case ${1:-} in
  sac_prior)
    run sac_prior_small_load1 "${sac_prior_args[@]}"
    ;;
  sac_budget)
    run "sac_prior_small_load1_${MIN}min" "${sac_prior_args[@]}"
    ;;
  entropy)
    run ppo_small_load2 scenario.load=2.0 &
    first=$!
    run ppo_ent0_small_load2 scenario.load=2.0 agent.ent_coef=0.0 &
    wait $first
    wait $!
    ;;
  budget)
    run ppo_small_load1.5 scenario.load=1.5 &
    first=$!
    run ppo_large_load2 scenario=large scenario.load=2.0 &
    wait $first
    wait $!
    ;;
  *)
    echo "usage: bash scripts/probes.sh sac_prior|sac_budget|entropy|budget" >&2
    exit 2
    ;;
esac
