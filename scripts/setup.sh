#!/usr/bin/env bash
# Install interp and its tools into the current Python environment.
#
# torch is chosen for the machine: a CUDA build where an NVIDIA driver answers, the CPU build
# otherwise (a plain `pip install torch` on a machine without a GPU pulls gigabytes of CUDA
# libraries it cannot use). An already installed torch is kept. Set INTERP_TORCH to force a
# requirement, e.g. INTERP_TORCH="torch==2.13.0+cpu".
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
pip_install() { "$PYTHON" -m pip install --quiet "$@"; }

if [ -n "${INTERP_TORCH:-}" ]; then
    pip_install "$INTERP_TORCH"
elif "$PYTHON" -c "import torch" 2>/dev/null; then
    echo "setup: keeping torch $("$PYTHON" -c 'import torch; print(torch.__version__)')"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: NVIDIA GPU found, installing the CUDA build of torch"
    pip_install torch
else
    echo "setup: no GPU, installing the CPU build of torch"
    # A local or mirrored CPU wheel first; else PyTorch's CPU index.
    pip_install "torch==2.13.0+cpu" 2>/dev/null \
        || pip_install torch --index-url https://download.pytorch.org/whl/cpu
fi
pip_install -e ".[dev]"
echo "setup: done ($("$PYTHON" -c 'import interp, torch; print("interp", interp.__version__, "torch", torch.__version__)'))"
