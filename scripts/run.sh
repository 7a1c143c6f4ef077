#!/usr/bin/env bash
# Set up (scripts/setup.sh), then the main job: train the default agent
# (MaskablePPO) on the benchmark's default cell (GainNet-v2 small at load 2:
# the cell whose causal headroom is clearly above zero: README, "Main job";
# docs/training.md, "Headroom on GainNet-v2") for at most 14 minutes of wall time, then evaluate its best
# model beside every baseline on 200 held-out seeds and print the table. Extra
# arguments are Hydra overrides for gainnet-train (e.g. agent=sac
# scenario=medium seed=1; scenario.load=1.0 demand@scenario=v1 for v1's main job).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/gainnet-train train.total_timesteps=1200000 train.max_minutes=14 \
  evaluate.episodes=200 scenario.load=2.0 "$@"
