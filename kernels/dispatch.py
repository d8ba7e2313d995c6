"""Device policy for the kernels: Triton on CUDA, the float32 torch reference everywhere else.

One switch decides which path a public kernel function takes:

- ``"auto"`` (default): Triton when triton imports, every tensor is on a CUDA device, and no
  gradient is needed (the Triton paths are inference-only); the reference otherwise.
- ``"triton"``: always Triton. On CPU tensors this needs Triton's interpreter
  (``TRITON_INTERPRET=1``), which runs the kernels on the CPU for correctness tests.
- ``"reference"``: always the torch reference.

The switch is read from, in order: the innermost :func:`use_backend` block, the environment
variable ``INTERP_KERNELS``, then ``"auto"``::

    with use_backend("reference"):
        out = steer_add(h, V, c, alpha=2.0)

This module also holds the small launch helpers the kernel files share (shape normalisation,
block sizes, the dot precision) and re-exports `jit`'s lazy ``@triton.jit``. It imports only
torch, and triton when it is installed.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

import torch
from torch import Tensor

from .jit import HAS_TRITON, LazyKernel, interpreting, lazy_jit, tl, triton

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "HAS_TRITON",
    "Backend",
    "LazyKernel",
    "as_3d",
    "cdiv",
    "current_backend",
    "dot_precision",
    "interpreting",
    "lazy_jit",
    "mask_bytes",
    "next_power_of_2",
    "row_mask",
    "sm_count",
    "split_v",
    "tl",
    "triton",
    "use_backend",
    "use_triton",
]

Backend = Literal["auto", "triton", "reference"]
BACKENDS: tuple[str, ...] = ("auto", "triton", "reference")
ENV_VAR = "INTERP_KERNELS"

_override: ContextVar[str | None] = ContextVar("interp_kernels_backend", default=None)


# ----------------------------------------------------------------------------------------------
# The switch
# ----------------------------------------------------------------------------------------------


def _check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"unknown kernel backend {name!r}; use one of {', '.join(BACKENDS)}")
    return name


@contextmanager
def use_backend(name: Backend) -> Iterator[None]:
    """Force every kernel call inside the block onto one path ("triton", "reference" or "auto")."""
    token = _override.set(_check_backend(name))
    try:
        yield
    finally:
        _override.reset(token)


def current_backend() -> str:
    """The backend in force: the innermost `use_backend`, else `$INTERP_KERNELS`, else "auto"."""
    forced = _override.get()
    if forced is not None:
        return forced
    return _check_backend(os.environ.get(ENV_VAR, "auto").strip().lower() or "auto")


def use_triton(*tensors: Tensor) -> bool:
    """Whether a kernel call on `tensors` takes the Triton path (see the module docstring)."""
    backend = current_backend()
    if backend == "reference":
        return False
    on_cuda = all(t.is_cuda for t in tensors)
    if backend == "auto":
        needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
        return HAS_TRITON and on_cuda and not needs_grad
    if not HAS_TRITON:
        raise RuntimeError(
            f"kernel backend 'triton' was forced (use_backend or ${ENV_VAR}) but triton does not "
            "import; install triton or use the 'reference' backend"
        )
    if not on_cuda and not interpreting():
        raise RuntimeError(
            "kernel backend 'triton' was forced on CPU tensors; set TRITON_INTERPRET=1 to run the "
            "kernels in Triton's interpreter, or move the tensors to a CUDA device"
        )
    return True


# ----------------------------------------------------------------------------------------------
# Launch helpers shared by the kernel files
# ----------------------------------------------------------------------------------------------


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def next_power_of_2(n: int) -> int:
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


_SM_COUNTS: dict[int, int] = {}


def sm_count(device: torch.device) -> int:
    """Streaming multiprocessors on a CUDA device (1 elsewhere), for sizing grids."""
    if device.type != "cuda" or interpreting():
        return 1
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _SM_COUNTS:
        _SM_COUNTS[index] = torch.cuda.get_device_properties(index).multi_processor_count
    return _SM_COUNTS[index]


def dot_precision(device: torch.device) -> str:
    """`tl.dot`'s input precision for float32 operands.

    "tf32x3" on NVIDIA GPUs: three TF32 tensor-core passes, about float32 accuracy, still far
    below the memory time of these bandwidth-bound kernels. "ieee" in the interpreter (where a
    float32 dot is exact anyway) and on other devices.
    """
    if device.type == "cuda" and torch.version.hip is None and not interpreting():
        return "tf32x3"
    return "ieee"


def split_v(dtype: torch.dtype, device: torch.device) -> bool:
    """Whether kernels projecting activations of `dtype` use two TF32 products with V split.

    fp16 and bf16 values are exact in TF32, so only V (float32) loses bits in a TF32 `tl.dot`.
    Splitting V into a TF32-exact high part and the remainder recovers about float32 accuracy
    with two tensor-core passes that leave the activation tile alone (tf32x3 would split it too,
    at three passes and far more registers). The interpreter runs the same code, exactly.
    """
    nvidia = device.type == "cuda" and torch.version.hip is None
    return dtype in (torch.float16, torch.bfloat16) and (nvidia or interpreting())


def as_3d(h: Tensor) -> Tensor:
    """View `h` as (B, T, D) without copying when possible: (D,) -> (1, 1, D), (N, D) -> (1, N, D),
    (..., T, D) -> (prod(...), T, D)."""
    if h.dim() == 3:
        return h
    if h.dim() == 1:
        return h[None, None]
    if h.dim() == 2:
        return h[None]
    return h.reshape(-1, h.shape[-2], h.shape[-1])  # a view when the leading dims allow it


def row_mask(select: Tensor | None, lead_shape: torch.Size) -> Tensor | None:
    """A boolean selection over the leading (row) dimensions of an activation.

    `select` is None (every row), a bool mask of shape `lead_shape`, or, for (B, T, D)
    activations, an integer position per batch row (B,) where negative or out-of-range values
    select nothing.
    """
    if select is None:
        return None
    if select.dtype == torch.bool:
        if select.shape != lead_shape:
            raise ValueError(
                f"selection mask has shape {tuple(select.shape)}, expected {tuple(lead_shape)}"
            )
        return select
    if select.is_floating_point() or select.is_complex():
        raise ValueError(f"selection must be bool or integer, got {select.dtype}")
    if len(lead_shape) != 2 or select.shape != lead_shape[:1]:
        raise ValueError(
            f"a position index must have shape (batch,) = {tuple(lead_shape[:1])} for a "
            f"(batch, pos, d_model) activation, got {tuple(select.shape)}"
        )
    positions = torch.arange(lead_shape[1], device=select.device)
    return positions[None, :] == select.long()[:, None]  # (B, T)


def mask_bytes(mask: Tensor) -> Tensor:
    """A bool mask as uint8 without a copy, for kernels that load it as bytes."""
    return mask.view(torch.uint8) if mask.dtype == torch.bool else mask.to(torch.uint8)
