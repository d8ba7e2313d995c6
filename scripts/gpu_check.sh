#!/usr/bin/env bash
# The GPU check in one command, sized for a lent H100/H200 (one command at most 600 s): the kernel
# tests on the device, then the kernel benchmarks at the sizes that matter, every log and the
# results CSV written to $OUT (default runs/gpu-check).
#
#   bash scripts/gpu_check.sh            # OUT=... to choose where the logs go
#
# Steps and their time limits (seconds; they add up to 500, under the 540 this must fit in):
#   device            10   GPU, python, torch, triton
#   tests            190   tests/kernels, one pytest per test file, all at once (Triton compiles
#                          on the CPUs; the GPU tests run at full size): the kernels against
#                          their references, 16-bit projections (test_native_dot), a steered
#                          decode step captured into a CUDA graph and replayed (test_cuda_graph),
#                          and the sm_90 compile evidence with this image's Triton
#                          (test_compile_report: no spills, wgmma where expected)
#   prefill-capture   80   8192 x 4096 bf16, capture_reduce (k 0/1/8/16, every position and the
#                          last) and project (k 1/8/16): Triton against native torch eager and
#                          torch.compile, the bandwidth goals; capture at k 8/16 also on the
#                          per-tile grid (provider triton-per-block) against the persistent one
#   prefill-steer    110   8192 x 4096 bf16, the four steering updates (k 1/16), out of place, in
#                          place and at the last position, against eager and torch.compile;
#                          two-pass ablate / clamp (k 16) on both grids (persistent, per block)
#   decode            70   1 and 64 tokens x 4096 bf16, every op (k 1/8/16), against eager
#   probes            40   the probe-bank benchmark (needs the model stack; fails fast without)
# A step that runs out of time is stopped and the next one starts; the harness appends its rows
# case by case, so what was measured stays in results.csv; steps.txt says how each step ended.
#
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
unset TRITON_INTERPRET INTERP_KERNELS  # compiled kernels, the automatic backend
: > "$OUT/steps.txt"

# step NAME LIMIT COMMAND...: run with a time limit, log how it ended and how long it took.
step() {
    local name=$1 limit=$2 start=$SECONDS rc
    shift 2
    timeout -k 2 "$limit" "$@"
    rc=$?
    local how="exit $rc"
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && how="timed out after ${limit}s"
    echo "$name: $how, $((SECONDS - start)) s" | tee -a "$OUT/steps.txt"
}

device_info() {
    nvidia-smi -L || echo "no nvidia-smi"
    python3 -c 'import sys, torch, triton; print("python", sys.version.split()[0], "torch",
torch.__version__, "triton", triton.__version__, "cuda", torch.cuda.is_available())'
}
export -f device_info
step device 10 bash -c device_info > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"

# interp.kernels is the checkout's kernels/ folder, installed under the package. Without an
# installed interp, link the folder into the package for this run only.
if ! python3 -c "import interp.kernels" 2> /dev/null; then
    ln -s ../kernels interp/kernels
    trap 'rm -f interp/kernels' EXIT
fi
python3 -c "import interp.kernels" || exit 1

echo "== kernel tests (logs: $OUT/pytest_*.log)"
run_tests() {
    local pids=() file
    for file in test_project test_capture_reduce test_steer_update test_native_dot \
        test_cuda_graph test_compile_report test_bench test_end_to_end; do
        python3 -m pytest -q -p no:cacheprovider --confcutdir=tests/kernels \
            "tests/kernels/$file.py" > "$OUT/pytest_$file.log" 2>&1 &
        pids+=($!)
    done
    local rc=0 pid
    for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
    return $rc
}
export -f run_tests
export OUT
step tests 190 bash -c run_tests
for log in "$OUT"/pytest_*.log; do echo "$(basename "$log" .log): $(tail -1 "$log")"; done

bench() {  # bench NAME LIMIT ARGS...: the harness, its table to a log, rows to $OUT/results.csv
    local name=$1 limit=$2
    shift 2
    echo "== bench $name"
    step "bench-$name" "$limit" python3 benchmarks/kernel_harness.py --dtypes bf16 --quick \
        --csv "$OUT/results.csv" "$@" > "$OUT/bench_$name.log" 2>&1
    grep -v '^\[' "$OUT/bench_$name.log" | tail -n 60  # the table, without the progress lines
}
bench prefill-capture 80 --sizes 8192x4096 --ops capture_reduce project --ks 0 1 8 16
bench prefill-steer 110 --sizes 8192x4096 --ops steer_update --ks 1 16
bench decode 70 --sizes 1x4096 64x4096 --ks 1 8 16 --providers torch-eager triton

echo "== bench_probes"
step probes 40 python3 benchmarks/bench_probes.py --batch 8 --tokens 2048 --width 4096 \
    --seq 256 --layers 2 --heads 32 --csv "$OUT/probes.csv" > "$OUT/bench_probes.log" 2>&1
grep -v '^{' "$OUT/bench_probes.log" | tail -16
cat "$OUT/steps.txt"
