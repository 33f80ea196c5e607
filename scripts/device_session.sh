#!/usr/bin/env bash
# One call on a lent GPU machine (see docs/accelerator_check.md): notebook 003's remaining runs train
# in parallel while the accelerator check's correctness phases run; once the runs have stopped, the
# check's timed phases run alone. Everything that comes back is written to $OUT:
#   reproduce-*.log, runs.tar.gz (config.json, metrics.jsonl, timing.jsonl and the log of every run),
#   correctness/ and speed/ (the check's JSON reports and logs).
# Usage, after scripts/pack_for_device.py, with .device/ carried and its wheels installed:
#   STOP_AFTER=280 bash scripts/device_session.sh
# Rehearsal on a CPU: OUT=/tmp/out STOP_AFTER=60 REPRO_ARGS="--epochs 1 --limit-train 512"
#   CHECK_ARGS=--dry-run bash scripts/device_session.sh
set -u
out=${OUT:?set OUT to the folder that comes back}
stop_after=${STOP_AFTER:-280}
repro_args=${REPRO_ARGS:-}
check_args=${CHECK_ARGS:-}
runs=/tmp/jaxmnist-repro
data_dir=/tmp/jaxmnist-data
python=${PYTHON:-python3}
# Several processes share one GPU: each takes memory as it needs it; seeds share compiled programs.
export XLA_PYTHON_CLIENT_PREALLOCATE=false JAX_COMPILATION_CACHE_DIR=/tmp/jaxmnist-xla-cache PYTHONUNBUFFERED=1

# What docs/RESULTS.md lists as not run yet: two more seeds of each notebook 003 run with a printed
# number that has one, and the qualitative runs not made on the CPU.
seeds_50_epochs="lenet/lenet_deep_cosine_lr1e-3 lenet/lenet_deep_cosine_aug_b100"
seeds_100_epochs="lenet/lenet_deep_triangular_1000 lenet/lenet_deep_triangular_2500 lenet/lenet_deep_triangular2
  lenet/simple_net_warm_restarts"
qualitative="lenet/lenet_deep_aug lenet/lenet_deep_aug_erase lenet/lenet_deep_cosine_lr1e-2"

$python -m jaxmnist.cli data prepare --source .device/data --dataset mnist --data-dir $data_dir || exit 1
reproduce() {  # LOG_NAME SECONDS ARGUMENTS...: runs 4 at a time, stopped after SECONDS
  local log=$out/reproduce-$1.log seconds=$2; shift 2
  $python scripts/reproduce.py --dir $runs --data-dir $data_dir --parallel 4 --stop-after $seconds \
    $repro_args "$@" >>"$log" 2>&1
}
started=$SECONDS
chain() {  # LOG_NAME FIRST... -- SECOND...: the second list starts when the first has finished
  local name=$1 first=(); shift
  while [ "$1" != "--" ]; do first+=("$1"); shift; done; shift
  reproduce "$name" $stop_after "${first[@]}"
  local left=$((stop_after - (SECONDS - started)))
  if [ $left -gt 5 ]; then reproduce "$name" $left "$@"; fi
}
chain first --seeds 3 --skip-seeds 1 $seeds_50_epochs -- $qualitative &
reproduce second $stop_after --seeds 3 --skip-seeds 1 $seeds_100_epochs &
mkdir -p $out/correctness $out/speed
$python scripts/accelerator_check.py --data-source .device/data $check_args \
  --phases environment unit_tests parity determinism --out $out/correctness/accelerator_check.json >/dev/null
wait
unset XLA_PYTHON_CLIENT_PREALLOCATE
$python scripts/accelerator_check.py --data-source .device/data $check_args --phases benchmark epoch \
  --out $out/speed/accelerator_check.json
tar czf $out/runs.tar.gz -C $runs --exclude checkpoints --exclude tensorboard .
ls -l $out
