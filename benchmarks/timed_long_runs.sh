#!/usr/bin/env bash
# Trains the long MNIST runs of issue 4 side by side on one accelerator for a
# fixed wall-clock budget, from arrays exported by experiments/export_data.py
# (so the machine needs JAX but not TensorFlow):
#
#   bash benchmarks/timed_long_runs.sh ARRAYS.npz ROOT SECONDS [NAME ...] \
#       [-- --config.FIELD=VALUE ...]
#
# NAME is sdgm, adgm or m2 (default: all three). Flags after `--` go to
# every run, after the script's own (so they win), e.g.
# `-- --config.lr_schedule=cosine --config.num_train_steps=110000`.
# Each run gets SIGTERM after SECONDS, saves a checkpoint and stops; it is
# evaluated on the validation split every EVAL_EVERY steps (default 4000),
# so ROOT/NAME/metrics.jsonl holds its learning curve, printed at the end.
# Rerunning the command resumes every run.
# The machine needs JAX, flax, optax, orbax-checkpoint, absl-py and
# ml_collections; a lent H200's image (2026-12) lacked only ml_collections,
# whose pure-Python wheel can be carried and installed with
# `python3 -m pip install --no-index --no-deps --target DIR WHEEL` and
# PYTHONPATH=DIR.
set -euo pipefail

arrays=$1 root=$2 seconds=$3
shift 3
names=() extra=()
while [[ $# -gt 0 ]]; do
  if [[ $1 == -- ]]; then shift; extra=("$@"); break; fi
  names+=("$1"); shift
done
[[ ${#names[@]} -gt 0 ]] || names=(sdgm adgm m2)
declare -A configs=(
  [sdgm]=configs/mnist_sdgm.py [adgm]=configs/mnist_adgm.py
  [m2]=configs/mnist_m2.py)

# Several JAX processes share the accelerator: none may take most of its
# memory up front.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
mkdir -p "$root"
pids=()
for name in "${names[@]}"; do
  config=${configs[$name]:?unknown run $name (sdgm, adgm or m2)}
  timeout --preserve-status -k 60 -s TERM "$seconds" python3 -m experiments.train \
    --config="$config" --config.data.arrays_file="$arrays" --workdir="$root/$name" \
    --config.num_train_steps=1000000 \
    --config.eval_every_steps="${EVAL_EVERY:-4000}" \
    --config.log_every_steps=2000 --config.checkpoint_every_steps=50000 \
    --config.figures=False ${extra[@]+"${extra[@]}"} >"$root/$name.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
python3 - "$root" "${names[@]}" <<'EOF'
import sys
from benchmarks.run_logs import learning_curve
root, *names = sys.argv[1:]
for name in names:
  curve = learning_curve(f'{root}/{name}')
  print(f'{name}:', ', '.join(f'{s}: {100 * v:.2f}' for s, v in curve.items()))
EOF
exit "$status"
