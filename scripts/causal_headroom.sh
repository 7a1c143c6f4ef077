#!/usr/bin/env bash
# Causal headroom over greedy_best_plan on every cell of the size x load grid:
# scripts/causal_rollout.py's rollout policy (K sampled futures per candidate,
# never the episode's own) on the request decisions of small, medium and large
# at loads 0.5-2, and on the plan decisions of small at load 1 (and, as their
# bound, the same plan choice on the episodes' own futures); then the table
# (docs/results/causal_rollout/table.md) beside the grid's verdicts. Two jobs
# at a time; a cell whose JSON exists is kept (delete it to rerun).
#
#   bash scripts/causal_headroom.sh
#   CAUSAL_DIR=/tmp/ch CAUSAL_SIZES=small CAUSAL_LOADS=1.0 CAUSAL_EPISODES=4 bash scripts/causal_headroom.sh
#
# Episodes per cell: CAUSAL_EPISODES, or by default 20 on small, 10 on medium
# and 5 on large (a routing episode costs 1-6 s, 5-21 s and 0.5-2 min here,
# rising with load), and 40 for the plans job (about 50 s an episode). About
# 40 minutes here with both cores, the plans job 16 of them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
OUT="${CAUSAL_DIR:-docs/results/causal_rollout}"
SIZES="${CAUSAL_SIZES:-small,medium,large}"
LOADS="${CAUSAL_LOADS:-0.5,1.0,1.5,2.0}"
FUTURES="${CAUSAL_FUTURES:-16}"
PLANS="${CAUSAL_PLANS:-1}"  # 0: skip the plans job on small at load 1
for v in "$FUTURES" ${CAUSAL_EPISODES:+"$CAUSAL_EPISODES"}; do
  if ! [[ "$v" =~ ^[1-9][0-9]*$ ]] || [ "$v" -lt 2 ]; then
    echo "CAUSAL_FUTURES / CAUSAL_EPISODES=$v is invalid: must be an integer >= 2" >&2
    exit 2
  fi
done
mkdir -p "$OUT"

jobs=()
IFS=, read -r -a sizes <<<"$SIZES"
IFS=, read -r -a loads <<<"$LOADS"
for s in "${sizes[@]}"; do
  case "$s" in
    small) n=20 ;;
    medium) n=10 ;;
    large) n=5 ;;
    *)
      echo "CAUSAL_SIZES=$SIZES is invalid: each must be one of small, medium, large" >&2
      exit 2
      ;;
  esac
  n="${CAUSAL_EPISODES:-$n}"
  for l in "${loads[@]}"; do
    jobs=("$s $l requests $n" "${jobs[@]}")  # the larger networks' long jobs first
  done
done
if [ "$PLANS" = 1 ]; then
  # the plans job (about a minute per episode) is split over both lanes
  n="${CAUSAL_EPISODES:-40}"
  if [ "$n" -ge 4 ]; then
    half=$(((n + 1) / 2))
    jobs=("small 1.0 plans $half 1000 _a" "small 1.0 plans $((n - half)) $((1000 + half)) _b" "${jobs[@]}")
  else
    jobs=("small 1.0 plans $n" "${jobs[@]}")
  fi
  # the same plan choice on the episodes' own futures (K = 1): its bound
  jobs+=("small 1.0 plans $n 1000 _hindsight --hindsight")
fi

run() {  # scenario load decisions episodes [first_seed suffix [flag]]
  local s=$1 l=$2 d=$3 n=$4 first=${5:-1000} suffix=${6:-} flag=${7:-}
  local out="$OUT/${s}_load${l}_${d}${suffix}.json"
  if [ -f "$out" ]; then
    echo "kept $out"
    return 0
  fi
  "$PY" scripts/causal_rollout.py --scenario "$s" --load "$l" --decisions "$d" \
    --episodes "$n" --first-seed "$first" --futures "$FUTURES" $flag --out "$out" >"$out.log" 2>&1  # written whole, at the end
  rm -f "$out.log"
  echo "wrote $out"
}
export -f run
export PY OUT FUTURES
printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} bash -c 'run {}'
"$PY" scripts/causal_rollout.py --table "$OUT" --grid docs/results/grid/grid.csv
