#!/usr/bin/env bash
# Install interp and its tools: into the active virtual environment, else into the project's .venv
# (created here), so that a system Python that refuses `pip install` (PEP 668, Debian and Ubuntu) is
# never touched.
#
# torch is chosen for the machine: a CUDA build where an NVIDIA driver answers, the CPU build
# otherwise (a plain `pip install torch` on a machine without a GPU pulls gigabytes of CUDA
# libraries it cannot use). An already installed torch is kept. Set INTERP_TORCH to force a
# requirement, e.g. INTERP_TORCH="torch==2.13.0+cpu".
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${VIRTUAL_ENV:-}" ] || [ -n "${CONDA_PREFIX:-}" ]; then
    PYTHON=${PYTHON:-python}
    where="the active environment ($("$PYTHON" -c 'import sys; print(sys.prefix)'))"
else
    if [ ! -x .venv/bin/python ]; then
        echo "setup: no virtual environment is active; creating one in .venv"
        "${BASE_PYTHON:-python3}" -m venv .venv || {
            echo "setup: error: could not create .venv; install your Python's venv module" \
                "(Debian/Ubuntu: apt install python3-venv) or activate an environment first" >&2
            exit 1
        }
    fi
    PYTHON=.venv/bin/python
    where=".venv"
fi

# Nothing to do when this environment was set up from the same project files.
stamp_file="$("$PYTHON" -c 'import sys; print(sys.prefix)')/.interp-setup"
stamp=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] \
    && "$PYTHON" -c "import interp, torch" 2>/dev/null; then
    echo "setup: $where is up to date"
    exit 0
fi

# -qq: errors only (a mirror-heavy pip config warns once per package otherwise).
pip_install() { "$PYTHON" -m pip install -qq --disable-pip-version-check "$@"; }

if [ -n "${INTERP_TORCH:-}" ]; then
    pip_install "$INTERP_TORCH"
elif "$PYTHON" -c "import torch" 2>/dev/null; then
    echo "setup: keeping torch $("$PYTHON" -c 'import torch; print(torch.__version__)')"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: NVIDIA GPU found, installing the CUDA build of torch"
    pip_install torch
else
    echo "setup: no GPU, installing the CPU build of torch"
    # A local or mirrored CPU wheel first; else PyTorch's CPU index. Both errors are shown if
    # both fail.
    log=$(mktemp)
    if ! pip_install "torch==2.13.0+cpu" 2>"$log"; then
        if ! pip_install torch --index-url https://download.pytorch.org/whl/cpu; then
            echo "setup: error: no CPU build of torch could be installed; the first attempt said:" >&2
            cat "$log" >&2
            rm -f "$log"
            exit 1
        fi
    fi
    rm -f "$log"
fi
pip_install -e ".[dev]"
echo "$stamp" >"$stamp_file"
echo "setup: done in $where ($("$PYTHON" -c 'import interp, torch; print("interp", interp.__version__, "torch", torch.__version__)'))"
