"""GPU kernels behind capture and steering, each beside its float32 torch reference.

Installed as `interp.kernels` (the repository's top-level `kernels/` folder). Needs only torch;
with triton importable and tensors on a CUDA device the public functions run Triton kernels,
elsewhere the torch references (see `dispatch` for the switch and its override).

Capture::

    capture_reduce(h, select, labels, n_labels, directions=None) -> CaptureSums
        h (B, T, D) fp32/fp16/bf16; select None | bool (B, T) | int64 position per row (B,)
        (negative: none); labels (B,) int in [0, n_labels) (others dropped); directions (k, D).
        -> sums (L, D), counts (L,), sq_sums (L, k) | None, all float32.

Projection::

    project(h, V, bias=None, scale=None) -> (..., k) float32 = (h @ V) * scale + bias
        h (..., D); V (D, k), k from 1 to 64; bias, scale (k,).

Steering (the result keeps h's dtype; unselected rows are bit-identical)::

    steer_add(h, V, c, alpha=1.0, select=None, inplace=False)     h + alpha V c
    steer_shift(h, w, select=None, inplace=False)                 h + w   (w = alpha V c formed once)
    steer_ablate(h, V, select=None, inplace=False)                h - V V^T h   (V orthonormal)
    steer_clamp(h, V, values, select=None, inplace=False)         <h, v_i> := values_i
    steer_rotate(h, v, alpha, select=None, inplace=False)         |h| u/|u|, u = h/|h| + alpha v/|v|
        select: None (all rows) | bool mask over h's leading dims | int position per row (B,).

Backend switch::

    with use_backend("reference"):   # or "triton" / "auto"; env INTERP_KERNELS does the same
        ...

Each `*_reference` is the same math in float32 torch: the CPU path and the test oracle. The
benchmark harness lives in the repository's `benchmarks/` (`interp bench kernels` from a checkout).

Modules: one per op (`capture_reduce`, `project`, `steer_update` with its kernels in
`steer_kernels`, their passes in `steer_passes` and the launcher in `steer_launch`), the tile
step the projections share (`tiles`), the backend switch and launch helpers (`dispatch`),
building kernels for Triton's compiler or its interpreter on triton 3.6 to 3.9 (`jit`), and a
captured launch's arguments for `triton.compile`, for compiling without a GPU (`launch_signature`).

This package must import with only relative imports and without defining `__version__`: from a
checkout's root, `transformers` may import this folder as a top-level `kernels` package while
probing for the Hugging Face package of that name, and treats it as absent without a version.
"""

from .capture_reduce import CaptureSums, capture_reduce, capture_reduce_reference
from .dispatch import BACKENDS, HAS_TRITON, current_backend, use_backend
from .project import project, project_reference
from .steer_update import (
    steer_ablate,
    steer_ablate_reference,
    steer_add,
    steer_add_reference,
    steer_clamp,
    steer_clamp_reference,
    steer_rotate,
    steer_rotate_reference,
    steer_shift,
    steer_shift_reference,
)

__all__ = [
    "BACKENDS",
    "HAS_TRITON",
    "CaptureSums",
    "capture_reduce",
    "capture_reduce_reference",
    "current_backend",
    "project",
    "project_reference",
    "steer_ablate",
    "steer_ablate_reference",
    "steer_add",
    "steer_add_reference",
    "steer_clamp",
    "steer_clamp_reference",
    "steer_rotate",
    "steer_rotate_reference",
    "steer_shift",
    "steer_shift_reference",
    "use_backend",
]
