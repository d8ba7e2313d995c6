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
read last are the ones still in L2 when pass 2 starts. At decode sizes (a few rows, too few
programs for the device) the columns are split across programs instead: a statistics kernel
stores per-split partials, and the update kernel sums them in split order (deterministic) and
writes its columns.

Bytes (the minimum): N x D x element size read and written (in place: only the selected rows),
plus V. Two-pass reads of pass 2 come from L2 where it still holds the row (to be measured on a
GPU); the decode split adds n_splits x N x K_PAD x 4 bytes of partials, written and read once.
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
from .steer_passes import (
    OP_ABLATE,
    OP_ADD,
    OP_CLAMP,
    OP_ROTATE,
    ROTATE_MIN_U,
    _row_block,
    _row_stats,
    _tile_stats,
    _update_terms,
    _write_tile,
    _write_tiles,
)
from .tiles import DOT_MIN_K, k_padded

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

# ----------------------------------------------------------------------------------------------
# Triton kernels (their passes: steer_passes.py)
# ----------------------------------------------------------------------------------------------


@lazy_jit
def _steer_update_kernel(
    # Pointers
    h_ptr,  # (B, T, D) activations, fp32 / fp16 / bf16, any strides
    out_ptr,  # (B, T, D) result in h's dtype (h_ptr itself when INPLACE)
    mask_ptr,  # (B, T) uint8: nonzero = steer this row                     [HAS_MASK]
    v_ptr,  # float32: add: w = alpha V c (D,); rotate: v (D,); ablate, clamp: V (D, K)
    values_ptr,  # (K,) float32 clamp targets                                [OP == OP_CLAMP]
    stats_ptr,  # (n_splits, N, K_PAD) float32 partial statistics            [FROM_STATS]
    # Sizes
    N,  # rows, B * T
    T,  # positions per batch row (row r is h[r // T, r % T])
    D,  # width
    d_per_split,  # columns per program along D (a multiple of BLOCK_D)
    n_splits,  # programs along D
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
    OP: tl.constexpr,  # OP_ADD, OP_ABLATE, OP_CLAMP or OP_ROTATE
    HAS_MASK: tl.constexpr,  # without a mask every row is selected
    INPLACE: tl.constexpr,  # touch only selected rows of h
    FROM_STATS: tl.constexpr,  # whole-row statistics from `_steer_stats_kernel`'s partials
    ONE_PASS: tl.constexpr,  # BLOCK_D >= D: each row is read once (ablate, clamp, rotate)
    K: tl.constexpr,  # directions (ablate, clamp)
    K_PAD: tl.constexpr,  # K rounded up to a power of two (>= 16 when USE_DOT); 4 for rotate
    USE_DOT: tl.constexpr,  # tl.dot for the projection and the reconstruction
    PRECISION: tl.constexpr,  # tl.dot input precision for float32 operands
    SPLIT_V: tl.constexpr,  # 16-bit h: project with V split into two TF32 parts
    BLOCK_N: tl.constexpr,  # rows per program
    BLOCK_D: tl.constexpr,  # columns per tile
):
    """One program updates BLOCK_N rows on the columns [d_lo, d_hi) of its split.

    Grid: (cdiv(N, BLOCK_N), n_splits). Add is elementwise. Ablate, clamp and rotate need a
    statistic of the whole row (the projections V^T h, or |h| and <h, v>): where a row fits in
    one tile (ONE_PASS) a program loads its rows once, computes it and writes; otherwise, with
    one split (many rows) a program walks all of D to compute it (pass 1), then walks D again,
    last tile first, to write the update (pass 2); with several splits (few rows: a decode step)
    `_steer_stats_kernel` has left per-split partials, which each program sums in split order
    (deterministic).
    """
    pid_n = tl.program_id(0)
    pid_s = tl.program_id(1)
    rows, row_ok, sel, b, t = _row_block(
        pid_n, mask_ptr, N, T, stride_mb, stride_mt, HAS_MASK=HAS_MASK, BLOCK_N=BLOCK_N
    )
    in_rows = h_ptr + b * stride_hb + t * stride_ht
    out_rows = out_ptr + b * stride_ob + t * stride_ot
    offs_k = tl.arange(0, K_PAD)
    d_lo = pid_s * d_per_split
    d_hi = tl.minimum(d_lo + d_per_split, D)

    proj = tl.zeros([BLOCK_N, K_PAD], dtype=tl.float32)
    sum_sq = tl.zeros([BLOCK_N], dtype=tl.float32)
    dot_v = tl.zeros([BLOCK_N], dtype=tl.float32)
    if ONE_PASS:
        # The whole row is one tile (BLOCK_D >= D): read it once, then write it.
        d = tl.arange(0, BLOCK_D)
        d_ok = d < D  # the tile is wider than the row when D is not a power of two
        if INPLACE:
            load_mask = sel[:, None] & d_ok[None, :]
        else:
            load_mask = row_ok[:, None] & d_ok[None, :]
        raw = tl.load(in_rows[:, None] + d[None, :] * stride_hd, mask=load_mask, other=0.0)
        x = tl.where(sel[:, None], raw.to(tl.float32), 0.0)  # statistics of selected rows only
        proj, sum_sq, dot_v, v_sq = _tile_stats(
            proj, sum_sq, dot_v, tl.zeros([BLOCK_D], dtype=tl.float32), x, v_ptr, d, d_ok,
            offs_k, stride_vd, stride_vk,
            OP=OP, K=K, USE_DOT=USE_DOT, PRECISION=PRECISION, SPLIT_V=SPLIT_V,
        )  # fmt: skip
        coef, scale_h, scale_v, sel = _update_terms(
            proj, sum_sq, dot_v, tl.sum(v_sq, axis=0), sel, values_ptr, alpha, min_u_sq,
            OP=OP, K=K, K_PAD=K_PAD,
        )  # fmt: skip
        io_mask = load_mask
        if INPLACE:  # rows that rotate leaves alone (no direction) are not written
            io_mask = sel[:, None] & d_ok[None, :]
        _write_tile(
            raw, out_rows, io_mask, sel, v_ptr, coef, scale_h, scale_v, d, d_ok, offs_k,
            stride_od, stride_vd, stride_vk,
            OP=OP, INPLACE=INPLACE, K=K, USE_DOT=USE_DOT, PRECISION=PRECISION,
        )  # fmt: skip
    else:
        v_sq = tl.zeros([BLOCK_N], dtype=tl.float32)
        if FROM_STATS:
            # Partials of rows past N were never stored: their loads are masked.
            stat_ptrs = stats_ptr + rows.to(tl.int64)[:, None] * K_PAD + offs_k[None, :]
            for s in range(0, n_splits):
                proj += tl.load(stat_ptrs + s * N * K_PAD, mask=row_ok[:, None], other=0.0)
            if OP == OP_ROTATE:  # columns 0, 1, 2: |h|^2, <h, v>, |v|^2
                sum_sq = tl.sum(tl.where(offs_k[None, :] == 0, proj, 0.0), axis=1)
                dot_v = tl.sum(tl.where(offs_k[None, :] == 1, proj, 0.0), axis=1)
                v_sq = tl.sum(tl.where(offs_k[None, :] == 2, proj, 0.0), axis=1)
        elif OP != OP_ADD:
            proj, sum_sq, dot_v, v_sq = _row_stats(
                in_rows, sel, v_ptr, 0, D, stride_hd, stride_vd, stride_vk,
                OP=OP, K=K, K_PAD=K_PAD, USE_DOT=USE_DOT, PRECISION=PRECISION, SPLIT_V=SPLIT_V,
                BLOCK_N=BLOCK_N, BLOCK_D=BLOCK_D,
            )  # fmt: skip
        coef, scale_h, scale_v, sel = _update_terms(
            proj, sum_sq, dot_v, v_sq, sel, values_ptr, alpha, min_u_sq, OP=OP, K=K, K_PAD=K_PAD
        )
        _write_tiles(
            in_rows, out_rows, row_ok, sel, v_ptr, coef, scale_h, scale_v, d_lo, d_hi,
            stride_hd, stride_od, stride_vd, stride_vk,
            OP=OP, INPLACE=INPLACE, REVERSE=(OP != OP_ADD) and not FROM_STATS, K=K, K_PAD=K_PAD,
            USE_DOT=USE_DOT, PRECISION=PRECISION, BLOCK_D=BLOCK_D,
        )  # fmt: skip


@lazy_jit
def _steer_stats_kernel(
    # Pointers
    h_ptr,  # (B, T, D) activations, fp32 / fp16 / bf16, any strides
    mask_ptr,  # (B, T) uint8: nonzero = steer this row                     [HAS_MASK]
    v_ptr,  # float32: rotate: v (D,); ablate, clamp: V (D, K)
    stats_ptr,  # (n_splits, N, K_PAD) float32 out: each split's partial statistics
    # Sizes
    N,  # rows, B * T
    T,  # positions per batch row
    D,  # width
    d_per_split,  # columns per program along D (a multiple of BLOCK_D)
    # Strides, in elements
    stride_hb,
    stride_ht,
    stride_hd,
    stride_mb,
    stride_mt,
    stride_vd,
    stride_vk,
    # Meta-parameters
    OP: tl.constexpr,  # OP_ABLATE, OP_CLAMP or OP_ROTATE
    HAS_MASK: tl.constexpr,
    K: tl.constexpr,
    K_PAD: tl.constexpr,
    USE_DOT: tl.constexpr,
    PRECISION: tl.constexpr,
    SPLIT_V: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    """Pass 1 split along D, for a few rows (a decode step): one program stores the statistics
    of BLOCK_N rows over its columns [d_lo, d_hi) as row slice pid_s of `stats`.

    Grid: (cdiv(N, BLOCK_N), n_splits). Every slot of `stats` for rows < N is written, so the
    buffer needs no zeroing; `_steer_update_kernel` with FROM_STATS sums the slices.
    """
    pid_n = tl.program_id(0)
    pid_s = tl.program_id(1)
    rows, row_ok, sel, b, t = _row_block(
        pid_n, mask_ptr, N, T, stride_mb, stride_mt, HAS_MASK=HAS_MASK, BLOCK_N=BLOCK_N
    )
    in_rows = h_ptr + b * stride_hb + t * stride_ht
    offs_k = tl.arange(0, K_PAD)
    d_lo = pid_s * d_per_split
    d_hi = tl.minimum(d_lo + d_per_split, D)
    proj, sum_sq, dot_v, v_sq = _row_stats(
        in_rows, sel, v_ptr, d_lo, d_hi, stride_hd, stride_vd, stride_vk,
        OP=OP, K=K, K_PAD=K_PAD, USE_DOT=USE_DOT, PRECISION=PRECISION, SPLIT_V=SPLIT_V,
        BLOCK_N=BLOCK_N, BLOCK_D=BLOCK_D,
    )  # fmt: skip
    stats = proj
    if OP == OP_ROTATE:  # columns 0, 1, 2: |h|^2, <h, v>, |v|^2 (the same for every row)
        k = offs_k[None, :]
        stats = tl.where(k == 0, sum_sq[:, None], tl.where(k == 1, dot_v[:, None], 0.0))
        stats = tl.where(k == 2, v_sq, stats)
    out = stats_ptr + (pid_s.to(tl.int64) * N + rows)[:, None] * K_PAD + offs_k[None, :]
    tl.store(out, stats, mask=row_ok[:, None])  # rows past N have no slot


# ----------------------------------------------------------------------------------------------
# Launcher
# ----------------------------------------------------------------------------------------------

# One-pass tiles hold a whole row: at most this many elements per program (32 float32 per thread
# at 8 warps), so BLOCK_N = ONE_PASS_ELEMENTS // the row's power-of-two width, up to 16 rows.
# Ablate and clamp keep each direction's column of V in registers too: compiled for sm_90 at
# width 4096, two or more directions leave room for one program per SM, so only one direction
# goes in one pass (rotate and k = 1 stay within 128 registers).
ONE_PASS_ELEMENTS = 8192
ONE_PASS_MAX_K = 1


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


def _d_splits(op: int, n_blocks: int, D: int, block_d: int, device: torch.device) -> int:
    """Programs along D. Add is elementwise: split whenever there are few row blocks (about
    four programs per SM). The others split only when their row blocks leave most SMs idle
    (decode sizes), into about two programs per SM, at the price of a second launch."""
    sms = sm_count(device)
    if op == OP_ADD:
        return max(1, min(cdiv(D, block_d), cdiv(4 * sms, n_blocks)))
    if 2 * n_blocks > sms:
        return 1
    return max(1, min(cdiv(D, block_d), cdiv(2 * sms, n_blocks)))


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
    d_splits: int | None = None,
    one_pass: bool | None = None,
) -> Tensor:
    """Run the kernels on h (..., D); `vec` is already in the kernels' form (see `v_ptr`).
    Block sizes, D splits and the one-pass path are chosen here unless given (tests)."""
    h3 = as_3d(h)
    if inplace and h3.data_ptr() != h.data_ptr():  # pragma: no cover - exotic >3-D strides
        new = _launch(op, h, vec, values, alpha, mask, False, block_n, block_d, d_splits, one_pass)
        return h.copy_(new)
    out = h if inplace else torch.empty_like(h)
    out3 = as_3d(out)
    B, T, D = h3.shape
    N = B * T
    if N == 0 or D == 0:
        return out
    device = h.device
    k = vec.shape[1] if op in (OP_ABLATE, OP_CLAMP) else 0
    use_dot = k >= DOT_MIN_K
    k_pad = 4 if op == OP_ROTATE else k_padded(k)  # rotate's partials: |h|^2, <h, v>, |v|^2
    default_n, default_d, num_warps = _config(op, k_pad, use_dot, D)
    tiles_given = block_n is not None or block_d is not None
    block_n, block_d = block_n or default_n, block_d or default_d
    if d_splits is None:
        d_splits = _d_splits(op, cdiv(N, block_n), D, block_d, device)
    d_per_split = cdiv(cdiv(D, d_splits), block_d) * block_d  # whole tiles per split
    d_splits = cdiv(D, d_per_split)
    width = max(16, next_power_of_2(D))
    if one_pass is None:  # a whole row per tile, where the statistics are multiply-adds
        one_pass = (op != OP_ADD and k <= ONE_PASS_MAX_K and d_splits == 1 and not tiles_given
                    and width <= ONE_PASS_ELEMENTS)  # fmt: skip
    if one_pass:
        block_n, block_d = min(16, ONE_PASS_ELEMENTS // width), width
        num_warps = 8 if block_n * width >= 4096 else 4
        d_splits, d_per_split = 1, D
    n_blocks = cdiv(N, block_n)
    m = mask_bytes(mask.reshape(B, T)) if mask is not None else vec
    vec2 = vec if vec.dim() == 2 else vec[:, None]
    meta = dict(
        OP=int(op), HAS_MASK=mask is not None, K=k, K_PAD=k_pad, USE_DOT=use_dot,
        PRECISION=dot_precision(device), SPLIT_V=split_v(h.dtype, device), BLOCK_N=block_n,
        BLOCK_D=block_d, num_warps=num_warps,
    )  # fmt: skip
    from_stats = op != OP_ADD and d_splits > 1
    stats = vec  # unused without FROM_STATS
    if from_stats:
        stats = torch.empty(d_splits, N, k_pad, device=device, dtype=torch.float32)
        _steer_stats_kernel[(n_blocks, d_splits)](
            h3, m, vec2, stats,
            N, T, D, d_per_split,
            h3.stride(0), h3.stride(1), h3.stride(2),
            m.stride(0), m.stride(-1), vec2.stride(0), vec2.stride(1),
            **meta,
        )  # fmt: skip
    _steer_update_kernel[(n_blocks, d_splits)](
        h3, out3, m, vec2, values if values is not None else vec, stats,
        N, T, D, d_per_split, d_splits, float(alpha), ROTATE_MIN_U**2,
        h3.stride(0), h3.stride(1), h3.stride(2),
        out3.stride(0), out3.stride(1), out3.stride(2),
        m.stride(0), m.stride(-1), vec2.stride(0), vec2.stride(1),
        INPLACE=inplace, FROM_STATS=from_stats, ONE_PASS=one_pass, **meta,
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
