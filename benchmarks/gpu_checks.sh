#!/usr/bin/env bash
# Issue 12's GPU checks as one run on a GPU machine: the CUDA tests, then benchmarks.gpu_workloads.
# Results go to $OUT (default: benchmarks/results). Where tunefleet's dependencies are not
# installed, put their wheels in .whl/ (not tracked): they are installed into /tmp/site first.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/results}"
mkdir -p "$OUT"
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, ray; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'ray', ray.__version__)" | tee -a "$OUT/gpu.txt"
timeout "${TESTS_TIMEOUT_S:-150}" python3 -m pytest -q -p no:cacheprovider tests/trainables/test_cuda.py 2>&1 \
    | tee "$OUT/test_cuda.log"
timeout "${BENCH_TIMEOUT_S:-360}" python3 -m benchmarks.gpu_workloads --output "$OUT/gpu_workloads.json" "$@" 2>&1 \
    | tee "$OUT/gpu_workloads.log"
