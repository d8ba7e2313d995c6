"""Fused steering update at selected positions, in place or out of place.

For each selected row h (D,) of the activations, with math in float32 and the result stored in
h's dtype:

    add      h + alpha * (V @ c)                      V (D, k), c (k,)
    ablate   h - V (V^T h)                            V (D, k) with orthonormal columns
    clamp    h + V (values - V^T h)                   sets <h, v_i> = values_i (V orthonormal)
    rotate   |h| u / |u|,  u = h/|h| + alpha v/|v|    norm-preserving rotation toward v
                                                       (methods.md section 1, step 3)

Rows that are not selected are bit-identical to the input (out of place they are copied as raw
bits; in place they are not touched). Rotation leaves rows with |h| = 0 or |u| < ROTATE_MIN_U
unchanged (and every row when v = 0): the formula has no direction there. This is what the
steering operators call on a GPU.

Ablate, clamp and rotate need a statistic of the whole row before they can write any of it.
Where a row fits in one tile (up to ONE_PASS_ELEMENTS wide; rotate, and one direction) a program
reads its rows once, computes the statistic and writes. Otherwise it reads each row twice: pass 1
(statistics), then pass 2 (the update), which walks the row last tile first, so the tiles pass 1
read last are the ones still in L2 when pass 2 starts; at prefill sizes a persistent grid of two
programs per SM runs both passes of one 16-row block after the other (`steer_persistent`). At decode sizes (a few rows, too few
programs for the device) the columns are split across programs instead: a statistics kernel
stores per-split partials, and the update kernel sums them in split order (deterministic) and
writes its columns.

Modules: the kernels (`steer_kernels`), their device functions (`steer_passes`), the launcher
(`steer_launch`); this one holds the public functions and the float32 references.

Bytes (the minimum): N x D x element size read and written (in place: only the selected rows),
plus V. Two-pass reads of pass 2 come from L2 where it still holds the row (to be measured on a
GPU); the decode split adds n_splits x N x K_PAD x 4 bytes of partials, written and read once.
"""

import torch
from torch import Tensor

from .dispatch import row_mask, use_triton
from .steer_launch import _launch
from .steer_passes import OP_ABLATE, OP_ADD, OP_CLAMP, OP_ROTATE, ROTATE_MIN_U

__all__ = [
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
]

# ----------------------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------------------


def _f32(t: Tensor, like: Tensor) -> Tensor:
    return t.to(device=like.device, dtype=torch.float32)


def _columns(V: Tensor, h: Tensor, name: str = "V") -> Tensor:
    """Directions as float32 columns (D, k); a single direction (D,) becomes (D, 1)."""
    V = V[:, None] if V.dim() == 1 else V
    if V.dim() != 2 or V.shape[0] != h.shape[-1]:
        raise ValueError(
            f"{name} must be (d_model, k) with d_model = {h.shape[-1]}, got {tuple(V.shape)}"
        )
    return _f32(V, h)


def _check_h(h: Tensor) -> None:
    if h.dim() == 0 or not h.is_floating_point():
        raise ValueError(f"h must be a floating-point (..., d_model) tensor, got {h.dtype}")


def _vector(x: Tensor | float, k: int, h: Tensor, name: str) -> Tensor:
    x = torch.as_tensor(x, device=h.device, dtype=torch.float32).reshape(-1)
    if x.numel() != k:
        raise ValueError(f"{name} must have {k} entries (one per direction), got {x.numel()}")
    return x


def _mask(select: Tensor | None, h: Tensor) -> Tensor | None:
    mask = row_mask(select, h.shape[:-1])
    return None if mask is None else mask.to(h.device)


def _run(op: int, h, vec, values, alpha, select, inplace, reference) -> Tensor:
    mask = _mask(select, h)
    tensors = [h, vec] + [t for t in (values, mask) if t is not None]
    if use_triton(*tensors):
        return _launch(op, h, vec, values, alpha, mask, inplace)
    return reference()


def steer_add(
    h: Tensor,
    V: Tensor,
    c: Tensor | float,
    alpha: float = 1.0,
    select: Tensor | None = None,
    inplace: bool = False,
) -> Tensor:
    """`h + alpha * (V @ c)` at the selected positions.

    Args:
        h: activations (..., d_model), float32, float16 or bfloat16, any strides.
        V: directions as columns (d_model, k), or one direction (d_model,).
        c: coefficients (k,) (or a number for one direction).
        alpha: overall strength.
        select: None (every row), a bool mask over h's leading dims, or for (batch, pos,
            d_model) an integer position per batch row (batch,).
        inplace: write into h (and return it) instead of a new tensor.
    """
    _check_h(h)
    V = _columns(V, h)
    c = _vector(c, V.shape[1], h, "c")
    w = float(alpha) * (V @ c)  # (D,) float32

    def reference() -> Tensor:
        return steer_add_reference(h, V, c, alpha, select, inplace)

    return _run(OP_ADD, h, w, None, alpha, select, inplace, reference)


def steer_shift(
    h: Tensor, w: Tensor, select: Tensor | None = None, inplace: bool = False
) -> Tensor:
    """`h + w` at the selected positions: `steer_add` with `alpha * (V @ c)` already formed as
    w (d_model,), so a caller that steers many passes forms it once (no per-call products or
    host-to-device copies). Other arguments as in `steer_add`."""
    _check_h(h)
    if w.shape != h.shape[-1:]:
        raise ValueError(f"w must be (d_model,) = ({h.shape[-1]},), got {tuple(w.shape)}")
    w = _f32(w, h)

    def reference() -> Tensor:
        return steer_shift_reference(h, w, select, inplace)

    return _run(OP_ADD, h, w, None, 1.0, select, inplace, reference)


def steer_ablate(
    h: Tensor, V: Tensor, select: Tensor | None = None, inplace: bool = False
) -> Tensor:
    """`h - V (V^T h)` at the selected positions: removes the span of V's orthonormal columns.

    V is (d_model, k) with orthonormal columns (e.g. from `torch.linalg.qr`), or one unit
    direction (d_model,). Other arguments as in `steer_add`.
    """
    _check_h(h)
    V = _columns(V, h)

    def reference() -> Tensor:
        return steer_ablate_reference(h, V, select, inplace)

    return _run(OP_ABLATE, h, V, None, 0.0, select, inplace, reference)


def steer_clamp(
    h: Tensor,
    V: Tensor,
    values: Tensor | float,
    select: Tensor | None = None,
    inplace: bool = False,
) -> Tensor:
    """Set the projection of h on each orthonormal column v_i of V to `values[i]`:
    `h + V (values - V^T h)` at the selected positions. Other arguments as in `steer_add`."""
    _check_h(h)
    V = _columns(V, h)
    values = _vector(values, V.shape[1], h, "values")

    def reference() -> Tensor:
        return steer_clamp_reference(h, V, values, select, inplace)

    return _run(OP_CLAMP, h, V, values, 0.0, select, inplace, reference)


def steer_rotate(
    h: Tensor,
    v: Tensor,
    alpha: float,
    select: Tensor | None = None,
    inplace: bool = False,
) -> Tensor:
    """Norm-preserving rotation toward v at the selected positions (methods.md section 1):
    `u = h/|h| + alpha v/|v|;  h <- |h| u/|u|`. Rows with |h| = 0 or |u| < ROTATE_MIN_U (no
    direction) are unchanged.
    Other arguments as in `steer_add`."""
    _check_h(h)
    if v.shape != h.shape[-1:]:
        raise ValueError(f"v must be (d_model,) = ({h.shape[-1]},), got {tuple(v.shape)}")
    v = _f32(v, h)  # normalised inside the kernel

    def reference() -> Tensor:
        return steer_rotate_reference(h, v, alpha, select, inplace)

    return _run(OP_ROTATE, h, v, None, alpha, select, inplace, reference)


# ----------------------------------------------------------------------------------------------
# References: the math in float32 torch
# ----------------------------------------------------------------------------------------------


def _finish(h: Tensor, new: Tensor, select: Tensor | None, inplace: bool) -> Tensor:
    """Cast to h's dtype, keep unselected rows' exact bits, write into h when asked."""
    new = new.to(h.dtype)
    mask = _mask(select, h)
    if mask is not None:
        new = torch.where(mask[..., None], new, h)
    if inplace:
        return h.copy_(new)
    return new


def steer_add_reference(
    h: Tensor,
    V: Tensor,
    c: Tensor | float,
    alpha: float = 1.0,
    select: Tensor | None = None,
    inplace: bool = False,
) -> Tensor:
    V = _columns(V, h)
    c = _vector(c, V.shape[1], h, "c")
    return _finish(h, h.float() + alpha * (V @ c), select, inplace)


def steer_shift_reference(
    h: Tensor, w: Tensor, select: Tensor | None = None, inplace: bool = False
) -> Tensor:
    return _finish(h, h.float() + _f32(w, h), select, inplace)


def steer_ablate_reference(
    h: Tensor, V: Tensor, select: Tensor | None = None, inplace: bool = False
) -> Tensor:
    V = _columns(V, h)
    x = h.float()
    return _finish(h, x - (x @ V) @ V.T, select, inplace)


def steer_clamp_reference(
    h: Tensor,
    V: Tensor,
    values: Tensor | float,
    select: Tensor | None = None,
    inplace: bool = False,
) -> Tensor:
    V = _columns(V, h)
    values = _vector(values, V.shape[1], h, "values")
    x = h.float()
    return _finish(h, x + (values - x @ V) @ V.T, select, inplace)


def steer_rotate_reference(
    h: Tensor,
    v: Tensor,
    alpha: float,
    select: Tensor | None = None,
    inplace: bool = False,
) -> Tensor:
    x = h.float()
    v = _f32(v, h)
    norm = x.norm(dim=-1, keepdim=True)  # (..., 1)
    u = x / norm + alpha * v / v.norm()  # (..., D)
    u_norm = u.norm(dim=-1, keepdim=True)
    new = norm * u / u_norm
    defined = (norm > 0) & (u_norm > ROTATE_MIN_U)  # else no direction: leave the row alone
    return _finish(h, torch.where(defined, new, x), select, inplace)
