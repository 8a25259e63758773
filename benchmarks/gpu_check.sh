#!/usr/bin/env bash
# The GPU check, sized to finish well under 5 minutes on one H100/H200: training
# throughput and MFU of the gpu-256 preset at bf16 on synthetic batches. Needs only torch,
# numpy and safetensors (the device image has them); writes $OUT/gpu_check.json.
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
PYTHONPATH=. PYTHONUNBUFFERED=1 python3 benchmarks/bench_train_gpu.py --preset gpu-256 \
    --steps 30 --batches 16,32 --variants --out "${OUT:-/tmp}/gpu_check.json"
