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
unchanged (and every row when v = 0): the formula has no direction there. This is what the steering operators call on a GPU.

Bytes (the minimum): N x D x element size read and written (in place: only the selected rows),
plus V. Ablate, clamp and rotate read each row twice (a statistics pass, then the update); a
program's BLOCK_N rows were read just before, so the second read should come from L2 and device
memory see one read (to be confirmed on a GPU).
"""

import torch
from torch import Tensor

from .dispatch import (
    as_3d,
    cdiv,
    dot_precision,
    lazy_jit,
    mask_bytes,
    next_power_of_2,
    row_mask,
    sm_count,
    split_v,
    tl,
    use_triton,
)

__all__ = [
    "steer_ablate",
    "steer_ablate_reference",
    "steer_add",
    "steer_add_reference",
    "steer_clamp",
    "steer_clamp_reference",
    "steer_rotate",
    "steer_rotate_reference",
]

OP_ADD, OP_ABLATE, OP_CLAMP, OP_ROTATE = 0, 1, 2, 3
# Rotation has no direction when |u| vanishes (h antiparallel to v and alpha = 1); below this
# |u|, float32 rounding decides the result, so such rows are left unchanged.
ROTATE_MIN_U = 1e-3
DOT_MIN_K = 5  # below this, k multiply-add reductions per tile; from here, tl.dot with k padded


# ----------------------------------------------------------------------------------------------
# Triton kernel
# ----------------------------------------------------------------------------------------------


@lazy_jit
def _steer_update_kernel(
    # Pointers
    h_ptr,  # (B, T, D) activations, fp32 / fp16 / bf16, any strides
    out_ptr,  # (B, T, D) result in h's dtype (h_ptr itself when INPLACE)
    mask_ptr,  # (B, T) uint8: nonzero = steer this row                     [HAS_MASK]
    v_ptr,  # float32: add: w = alpha V c (D,); rotate: v (D,); ablate, clamp: V (D, K)
    values_ptr,  # (K,) float32 clamp targets                                [OP == clamp]
    # Sizes
    N,  # rows, B * T
    T,  # positions per batch row (row r is h[r // T, r % T])
    D,  # width
    d_per_split,  # columns per program (D unless OP == add)
    alpha,  # rotate's step toward v
    min_u_sq,  # rotate: rows with |u|^2 at or below this are left unchanged
    # Strides, in elements
    stride_hb,
    stride_ht,
    stride_hd,
    stride_ob,
    stride_ot,
    stride_od,
    stride_mb,
    stride_mt,
    stride_vd,
    stride_vk,
    # Meta-parameters
    OP: tl.constexpr,  # 0 add, 1 ablate, 2 clamp, 3 rotate
    PROJECT: tl.constexpr,  # OP is ablate or clamp: pass 1 computes V^T h
    HAS_MASK: tl.constexpr,  # without a mask every row is selected
    INPLACE: tl.constexpr,  # touch only selected rows of h
    K: tl.constexpr,  # directions (ablate, clamp)
    K_PAD: tl.constexpr,  # K rounded up to a power of two (>= 16 when USE_DOT)
    USE_DOT: tl.constexpr,  # tl.dot for the projection and the reconstruction
    PRECISION: tl.constexpr,  # tl.dot input precision for float32 operands
    SPLIT_V: tl.constexpr,  # 16-bit h: project with V split into two TF32 parts
    BLOCK_N: tl.constexpr,  # rows per program
    BLOCK_D: tl.constexpr,  # columns per tile
):
    """One program updates BLOCK_N rows on the columns [d_lo, d_hi) of its split.

    Grid: (cdiv(N, BLOCK_N), D splits). Add is elementwise, so its columns may be split across
    programs; ablate, clamp and rotate need a statistic of the whole row (the projections V^T h,
    or |h| and <h, v>), so each of their programs first walks all of D to compute it (pass 1),
    then walks D again to write the update (pass 2).
    """
    pid_n = tl.program_id(0)
    pid_s = tl.program_id(1)
    rows = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < N  # the last row block is partial
    b = rows // T
    t = rows % T
    sel = row_ok
    if HAS_MASK:
        m = tl.load(mask_ptr + b * stride_mb + t * stride_mt, mask=row_ok, other=0)
        sel = sel & (m != 0)
    in_rows = h_ptr + b.to(tl.int64) * stride_hb + t.to(tl.int64) * stride_ht
    out_rows = out_ptr + b.to(tl.int64) * stride_ob + t.to(tl.int64) * stride_ot
    offs_d = tl.arange(0, BLOCK_D)
    offs_k = tl.arange(0, K_PAD)
    d_lo = pid_s * d_per_split
    d_hi = tl.minimum(d_lo + d_per_split, D)

    # Pass 1: per-row statistics over the whole row, from the selected rows only.
    coef = tl.zeros([BLOCK_N, K_PAD], dtype=tl.float32)  # ablate, clamp: update = V coef
    scale_h = tl.zeros([BLOCK_N], dtype=tl.float32)  # rotate: update = scale_h h + scale_v v
    scale_v = tl.zeros([BLOCK_N], dtype=tl.float32)
    if PROJECT:
        proj = tl.zeros([BLOCK_N, K_PAD], dtype=tl.float32)
        for d0 in range(0, D, BLOCK_D):
            d = d0 + offs_d
            d_ok = d < D  # the last column tile is partial when D % BLOCK_D != 0
            x = tl.load(
                in_rows[:, None] + d[None, :] * stride_hd,
                mask=sel[:, None] & d_ok[None, :],
                other=0.0,
            ).to(tl.float32)
            if USE_DOT:
                w = tl.load(
                    v_ptr + d[:, None] * stride_vd + offs_k[None, :] * stride_vk,
                    mask=d_ok[:, None] & (offs_k < K)[None, :],
                    other=0.0,
                )
                if SPLIT_V:  # two exact TF32 halves of V; h is exact in TF32
                    w_hi = (w.to(tl.uint32, bitcast=True) & 0xFFFFE000).to(tl.float32, bitcast=True)
                    proj = tl.dot(x, w_hi, proj, input_precision="tf32")
                    proj = tl.dot(x, w - w_hi, proj, input_precision="tf32")
                else:
                    proj = tl.dot(x, w, proj, input_precision=PRECISION)
            else:
                for j in tl.static_range(K):
                    w_j = tl.load(v_ptr + d * stride_vd + j * stride_vk, mask=d_ok, other=0.0)
                    p_j = tl.sum(x * w_j[None, :], axis=1)
                    proj += tl.where(offs_k[None, :] == j, p_j[:, None], 0.0)
        if OP == 1:
            coef = -proj
        else:
            target = tl.load(values_ptr + offs_k, mask=offs_k < K, other=0.0)
            coef = tl.where((offs_k < K)[None, :], target[None, :] - proj, 0.0)
    if OP == 3:
        sum_sq = tl.zeros([BLOCK_N], dtype=tl.float32)
        dot_v = tl.zeros([BLOCK_N], dtype=tl.float32)
        v_sq = tl.zeros([BLOCK_D], dtype=tl.float32)
        for d0 in range(0, D, BLOCK_D):
            d = d0 + offs_d
            d_ok = d < D
            x = tl.load(
                in_rows[:, None] + d[None, :] * stride_hd,
                mask=sel[:, None] & d_ok[None, :],
                other=0.0,
            ).to(tl.float32)
            v = tl.load(v_ptr + d * stride_vd, mask=d_ok, other=0.0)
            sum_sq += tl.sum(x * x, axis=1)
            dot_v += tl.sum(x * v[None, :], axis=1)
            v_sq += v * v
        # |u|^2 = 1 + 2 alpha <h, v>/(|h||v|) + alpha^2;  h' = (h + alpha |h| v/|v|) / |u|.
        norm = tl.sqrt(sum_sq)
        v_norm = tl.sqrt(tl.sum(v_sq, axis=0))
        has_dir = norm * v_norm > 0.0
        cos = dot_v / tl.where(has_dir, norm * v_norm, 1.0)
        u_sq = 1.0 + 2.0 * alpha * cos + alpha * alpha
        has_dir = has_dir & (u_sq > min_u_sq)
        inv_u = 1.0 / tl.sqrt(tl.where(has_dir, u_sq, 1.0))
        scale_h = inv_u
        scale_v = alpha * norm * inv_u / tl.where(v_norm > 0.0, v_norm, 1.0)
        sel = sel & has_dir  # rows with no defined direction stay as they are

    # Pass 2: write. In place, only selected rows are read and written; out of place every row
    # is read and written, the unselected ones as the raw loaded bits.
    for d0 in range(d_lo, d_hi, BLOCK_D):
        # Splits are whole tiles, so only the row's end needs a mask (D % BLOCK_D != 0).
        d = tl.multiple_of(d0, BLOCK_D) + offs_d
        d_ok = d < D
        if INPLACE:
            io_mask = sel[:, None] & d_ok[None, :]
        else:
            io_mask = row_ok[:, None] & d_ok[None, :]
        raw = tl.load(in_rows[:, None] + d[None, :] * stride_hd, mask=io_mask, other=0.0)
        x = raw.to(tl.float32)
        if OP == 0:
            w = tl.load(v_ptr + d * stride_vd, mask=d_ok, other=0.0)
            new = x + w[None, :]
        elif OP == 3:
            v = tl.load(v_ptr + d * stride_vd, mask=d_ok, other=0.0)
            new = scale_h[:, None] * x + scale_v[:, None] * v[None, :]
        elif USE_DOT:
            w_t = tl.load(
                v_ptr + offs_k[:, None] * stride_vk + d[None, :] * stride_vd,
                mask=(offs_k < K)[:, None] & d_ok[None, :],
                other=0.0,
            )
            new = x + tl.dot(coef, w_t, input_precision=PRECISION)
        else:
            new = x
            for j in tl.static_range(K):
                w_j = tl.load(v_ptr + d * stride_vd + j * stride_vk, mask=d_ok, other=0.0)
                c_j = tl.sum(tl.where(offs_k[None, :] == j, coef, 0.0), axis=1)
                new += c_j[:, None] * w_j[None, :]
        new = new.to(out_ptr.dtype.element_ty)
        if not INPLACE:
            new = tl.where(sel[:, None], new, raw)
        tl.store(out_rows[:, None] + d[None, :] * stride_od, new, mask=io_mask)


# ----------------------------------------------------------------------------------------------
# Launcher
# ----------------------------------------------------------------------------------------------


def _config(op: int, k_pad: int, use_dot: bool, D: int) -> tuple[int, int, int]:
    """(BLOCK_N, BLOCK_D, num_warps).

    Picked by compiling for sm_90 with triton 3.9 (no spills, <= ~128 registers, 16-byte
    loads), not yet by timing: (16, 256) tiles for add and rotate (56-64 registers) and, with
    8 warps, for ablate and clamp by multiply-adds; (32, 64) with 8 warps for tl.dot (98
    registers at k_pad 16), (16, 64) at k_pad 64 (96-116).
    """
    width = max(16, next_power_of_2(D))
    if use_dot:
        return (32 if k_pad <= 16 else 16), min(64, width), 8
    return 16, min(256, width), (4 if op in (OP_ADD, OP_ROTATE) else 8)


def _launch(
    op: int,
    h: Tensor,
    vec: Tensor,
    values: Tensor | None,
    alpha: float,
    mask: Tensor | None,
    inplace: bool,
    block_n: int | None = None,
    block_d: int | None = None,
) -> Tensor:
    """Run the kernel on h (..., D); `vec` is already in the kernel's form (see `v_ptr`)."""
    h3 = as_3d(h)
    if inplace and h3.data_ptr() != h.data_ptr():  # pragma: no cover - exotic >3-D strides
        return h.copy_(_launch(op, h, vec, values, alpha, mask, False, block_n, block_d))
    out = h if inplace else torch.empty_like(h)
    out3 = as_3d(out)
    B, T, D = h3.shape
    N = B * T
    if N == 0 or D == 0:
        return out
    device = h.device
    k = vec.shape[1] if op in (OP_ABLATE, OP_CLAMP) else 0
    use_dot = k >= DOT_MIN_K
    k_pad = max(16, next_power_of_2(k)) if use_dot else max(2, next_power_of_2(k))
    default_n, default_d, num_warps = _config(op, k_pad, use_dot, D)
    block_n, block_d = block_n or default_n, block_d or default_d
    n_blocks = cdiv(N, block_n)
    d_per_split = D
    if op == OP_ADD:  # elementwise: split columns when there are few row blocks
        d_splits = max(1, min(cdiv(D, block_d), cdiv(4 * sm_count(device), max(1, n_blocks))))
        d_per_split = cdiv(cdiv(D, d_splits), block_d) * block_d  # whole tiles per split
    m = mask_bytes(mask.reshape(B, T)) if mask is not None else vec
    vec2 = vec if vec.dim() == 2 else vec[:, None]
    _steer_update_kernel[(n_blocks, cdiv(D, d_per_split))](
        h3, out3, m, vec2, values if values is not None else vec,
        N, T, D, d_per_split, float(alpha), ROTATE_MIN_U**2,
        h3.stride(0), h3.stride(1), h3.stride(2),
        out3.stride(0), out3.stride(1), out3.stride(2),
        m.stride(0), m.stride(-1), vec2.stride(0), vec2.stride(1),
        OP=op, PROJECT=op in (OP_ABLATE, OP_CLAMP), HAS_MASK=mask is not None,
        INPLACE=inplace, K=k, K_PAD=k_pad, USE_DOT=use_dot, PRECISION=dot_precision(device),
        SPLIT_V=split_v(h.dtype, device), BLOCK_N=block_n, BLOCK_D=block_d, num_warps=num_warps,
    )  # fmt: skip
    return out


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
