#!/usr/bin/env bash
# Step benchmark and the article's four runs on this machine's GPU, for a user who has one.
#
#   bash benchmarks/gpu_check.sh                      # full size (the article runs take minutes)
#   bash benchmarks/gpu_check.sh --steps-scale 0.1    # shorter article runs
#
# Needs scopelab installed with a CUDA build of TensorFlow (pip install -e '.[gpu]'); PyTorch with
# CUDA is raced too when installed. Set PYTHON to choose the interpreter. Results go to
# benchmarks/results/*_gpu.json; send those files (or the printed tables) back.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}

if ! "$PYTHON" -c 'import sys, tensorflow as tf; sys.exit(0 if tf.config.list_physical_devices("GPU") else 1)' \
    2>/dev/null; then
  echo "gpu_check: TensorFlow sees no GPU here; install a CUDA build (pip install -e '.[gpu]') and check nvidia-smi." >&2
  exit 1
fi
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
fi

"$PYTHON" benchmarks/bench_step.py --device gpu --out benchmarks/results/bench_step_gpu.json
"$PYTHON" benchmarks/bench_article.py --device gpu --out benchmarks/results/bench_article_gpu.json "$@"
