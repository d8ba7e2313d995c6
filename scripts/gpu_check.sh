#!/usr/bin/env bash
# The GPU check in one command: the kernel tests on the device, then the kernel and probe-bank
# benchmarks, every log and the results CSV written to $OUT (default runs/gpu-check).
#
#   bash scripts/gpu_check.sh          # quick benchmark sizes (64 and 8192 tokens, bf16): minutes
#   bash scripts/gpu_check.sh full     # every size and dtype of the benchmark scripts
#
# It needs only what a CUDA machine's Python already has for the kernels (torch, triton, pytest,
# transformers, safetensors): interp itself is installed without its dependencies, so a machine
# without transformer-lens or network access runs it too. Each step has its own time limit, and a
# failing step does not stop the ones after it.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-check}
mode=${1:-quick}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
quick=$([ "$mode" = full ] || echo --quick)

{
    nvidia-smi -L || echo "no nvidia-smi"
    python3 -c 'import sys, torch, triton; print(sys.version.split()[0], "torch", torch.__version__,
"triton", triton.__version__, "cuda", torch.cuda.is_available())'
} > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"

# interp.kernels is the checkout's kernels/ folder, installed under the package. Use an installed
# interp; else install it without its dependencies; else (a setuptools too old for this
# pyproject) link the folder into the package for this run only.
if ! python3 -c "import interp.kernels" 2> /dev/null; then
    if ! python3 -m pip install -q --no-deps --no-build-isolation -e . > "$OUT/install.log" 2>&1; then
        echo "gpu_check: pip could not install interp; linking kernels/ into the package instead"
        ln -s ../kernels interp/kernels
        trap 'rm -f interp/kernels' EXIT
        export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
    fi
    rm -f "$OUT/install.log"
fi
python3 -c "import interp.kernels" || exit 1

echo "== kernel tests"
timeout 300 python3 -m pytest -q -p no:cacheprovider tests/kernels > "$OUT/pytest_kernels.log" 2>&1
tail -3 "$OUT/pytest_kernels.log"

for op in capture_reduce project steer_update; do
    echo "== bench_$op $quick"
    timeout 240 python3 "benchmarks/bench_$op.py" $quick --csv "$OUT/results.csv" \
        > "$OUT/bench_$op.log" 2>&1
    grep -v '^{' "$OUT/bench_$op.log" | tail -12  # the table; the JSON line stays in the log
done

echo "== bench_probes"
timeout 180 python3 benchmarks/bench_probes.py --batch 8 --tokens 2048 --width 4096 \
    --seq 256 --layers 2 --heads 32 --csv "$OUT/results.csv" > "$OUT/bench_probes.log" 2>&1
grep -v '^{' "$OUT/bench_probes.log" | tail -16
