#!/usr/bin/env bash
# Run an experiment in the background, logging to logs/, and say how to follow it.
#
#   scripts/start_training.sh team_battle                  # the default preset
#   scripts/start_training.sh competitive smoke            # a preset, then any options
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  echo "usage: scripts/start_training.sh EXPERIMENT [OPTIONS...]"
  echo "experiments: team_battle competitive cooperative mixed (options: python -m experiments.EXPERIMENT --help)"
  exit 0
fi
experiment="$1"; shift
if [ ! -f "experiments/${experiment}.py" ]; then
  echo "no experiment '${experiment}': choose team_battle, competitive, cooperative or mixed" >&2
  exit 2
fi
mkdir -p logs
log="logs/${experiment}_$(date +%Y%m%d-%H%M%S).log"
nohup python3 -m "experiments.${experiment}" "$@" --no-progress >"$log" 2>&1 &
pid=$!
echo "started ${experiment} (pid ${pid}), log: ${log}"
echo "follow the log:     tail -f ${log}"
echo "watch in TensorBoard: tensorboard --logdir runs   (then open http://localhost:6006)"
echo "stop it:            kill ${pid}   (resume later with --resume auto)"
