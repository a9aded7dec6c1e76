#!/usr/bin/env bash
# The GPU checks in one go, for whoever has an NVIDIA GPU at hand (about 5 minutes):
# the GPU tests (the engine on CuPy against the CPU), the engine against PyTorch on CUDA,
# and the trainer's own cost (benchmarks/bench_trainer.py).
# Needs CuPy 14.2 or later (pip install 'tfnp[gpu]' or 'cupy-cuda13x>=14.2') and, for the comparison, PyTorch with CUDA.
# Paste the output into benchmarks/README.md.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
echo "# $(date -u +%Y-%m-%d)  $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi not found')"
python -c "import cupy, numpy; print('# CuPy', cupy.__version__, 'NumPy', numpy.__version__)" || exit 2
python -c "import torch; print('# PyTorch', torch.__version__, 'CUDA', torch.version.cuda)" 2>/dev/null || echo "# PyTorch not installed: engine figures only"
echo "## tests"
timeout 150 python -m pytest tests/engine/test_gpu.py tests/engine/test_dropout_gpu.py -q -p no:cacheprovider
status=$?
echo "## benchmark (float32, medians of alternating rounds)"
timeout 150 python benchmarks/bench_engine.py --device gpu --configs seed-b32 mid big large --rounds 3 --seconds 2
echo "## the trainer against a bare step; a reverse run's epoch ends"
timeout 120 python benchmarks/bench_trainer.py --device gpu
exit $status
