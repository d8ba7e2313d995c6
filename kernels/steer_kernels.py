"""The steering kernels: the fused update and, for decode sizes, the split statistics pass.

`_steer_update_kernel` applies add, ablate, clamp or rotate to a block of rows (one pass where a
row fits in one tile, else statistics then the update, last tile first); `_steer_stats_kernel`
stores per-split partial statistics when the columns are split across programs (a decode step).
Their device functions live in `steer_passes`, the launcher in `steer_launch`, the public
functions and the float32 references in `steer_update`.
"""

from .dispatch import lazy_jit, tl
from .steer_passes import (
    OP_ADD,
    OP_ROTATE,
    _row_block,
    _row_stats,
    _tile_stats,
    _update_terms,
    _write_tile,
    _write_tiles,
)

__all__ = ["_steer_stats_kernel", "_steer_update_kernel"]


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
