#!/usr/bin/env bash
# Causal headroom over greedy_best_plan on every cell of the size x load grid
# (SYSTEM_MODEL sec. 13.5), on GainNet-v2: scripts/causal_rollout.py's rollout
# policy on the plan and request decisions together (K sampled futures per
# candidate, never the episode's own; plans among the one held and the best 8
# of greedy_best_plan's shared-plan search; each continuation played to the
# episode's end), and, as its bound, the same choice on the episodes' own
# futures (--hindsight); then the table (docs/results/causal_rollout_v2/table.md).
# Two jobs at a time; a cell whose JSON exists is kept (delete it to rerun).
# A shorter look-ahead (CAUSAL_HORIZON_S) is cheaper but myopic: with 10 s the
# rollout fell below greedy_best_plan on small at load 1.5 (-6%), switching
# plans whose costs it saw (fine-tuning's compute) and whose gains it did not.
#
#   bash scripts/causal_headroom.sh
#   CAUSAL_DIR=/tmp/ch CAUSAL_SIZES=small CAUSAL_LOADS=1.0 CAUSAL_EPISODES=4 bash scripts/causal_headroom.sh
#
# Episodes per cell: CAUSAL_EPISODES, or by default 10 on small, 4 on medium
# and 2 on large (cost per causal episode: see docs/training.md, "Headroom on
# GainNet-v2"; its hindsight bound about a tenth of that). Settings:
# CAUSAL_VERSION (2; 1 for v1's demand), CAUSAL_DECISIONS (both | plans |
# requests), CAUSAL_FUTURES (8), CAUSAL_CANDIDATES (8; 0 = every valid plan),
# CAUSAL_HORIZON_S (0 = to the episode's end), CAUSAL_HINDSIGHT (1: also the
# bound). v1's table (docs/results/causal_rollout/) was made by this
# script as of git 1c7fcb1; its runs record their settings.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
OUT="${CAUSAL_DIR:-docs/results/causal_rollout_v2}"
SIZES="${CAUSAL_SIZES:-small,medium,large}"
LOADS="${CAUSAL_LOADS:-0.5,1.0,1.5,2.0}"
FUTURES="${CAUSAL_FUTURES:-8}"
VERSION="${CAUSAL_VERSION:-2}"
DECISIONS="${CAUSAL_DECISIONS:-both}"
CANDIDATES="${CAUSAL_CANDIDATES:-8}"
HORIZON="${CAUSAL_HORIZON_S:-0}"
HINDSIGHT="${CAUSAL_HINDSIGHT:-1}"
for v in "$FUTURES" ${CAUSAL_EPISODES:+"$CAUSAL_EPISODES"}; do
  if ! [[ "$v" =~ ^[1-9][0-9]*$ ]] || [ "$v" -lt 2 ]; then
    echo "CAUSAL_FUTURES / CAUSAL_EPISODES=$v is invalid: must be an integer >= 2" >&2
    exit 2
  fi
done
case "$VERSION" in 1 | 2) ;; *)
  echo "CAUSAL_VERSION=$VERSION is invalid: must be 1 or 2" >&2
  exit 2
  ;;
esac
case "$DECISIONS" in both | plans | requests) ;; *)
  echo "CAUSAL_DECISIONS=$DECISIONS is invalid: must be one of both, plans, requests" >&2
  exit 2
  ;;
esac
if ! [[ "$CANDIDATES" =~ ^[0-9]+$ ]] || ! [[ "$HORIZON" =~ ^[0-9]+([.][0-9]+)?$ ]]; then
  echo "CAUSAL_CANDIDATES=$CANDIDATES / CAUSAL_HORIZON_S=$HORIZON is invalid: must be numbers >= 0" >&2
  exit 2
fi
mkdir -p "$OUT"

jobs=()
IFS=, read -r -a sizes <<<"$SIZES"
IFS=, read -r -a loads <<<"$LOADS"
for s in "${sizes[@]}"; do
  case "$s" in
    small) n=10 ;;
    medium) n=4 ;;
    large) n=2 ;;
    *)
      echo "CAUSAL_SIZES=$SIZES is invalid: each must be one of small, medium, large" >&2
      exit 2
      ;;
  esac
  n="${CAUSAL_EPISODES:-$n}"
  for l in "${loads[@]}"; do
    jobs=("$s $l $n" "${jobs[@]}")  # the larger networks' long jobs first
    if [ "$HINDSIGHT" = 1 ]; then
      jobs+=("$s $l $n _hindsight --hindsight")
    fi
  done
done

run() {  # scenario load episodes [suffix [flag]]
  local s=$1 l=$2 n=$3 suffix=${4:-} flag=${5:-}
  local out="$OUT/${s}_load${l}_${DECISIONS}${suffix}.json"
  if [ -f "$out" ]; then
    echo "kept $out"
    return 0
  fi
  "$PY" scripts/causal_rollout.py --version "$VERSION" --scenario "$s" --load "$l" \
    --decisions "$DECISIONS" --episodes "$n" --futures "$FUTURES" \
    --candidates "$CANDIDATES" --horizon-s "$HORIZON" $flag --out "$out" >"$out.log" 2>&1  # written whole, at the end
  rm -f "$out.log"
  echo "wrote $out"
}
export -f run
export PY OUT FUTURES VERSION DECISIONS CANDIDATES HORIZON
printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} bash -c 'run {}'
grid=()
if [ "$VERSION" = 1 ]; then grid=(--grid docs/results/grid/grid.csv); fi
"$PY" scripts/causal_rollout.py --table "$OUT" "${grid[@]}"
