"""The two passes of the steering kernels (`steer_update.py`), as device functions both share.

A steering update that needs a statistic of the whole row (ablate, clamp: the projections V^T h;
rotate: |h| and <h, v>) reads the row twice:

    pass 1  `_row_stats`      the statistic over a range of columns (all of D, or one split's),
                              one `_tile_stats` per tile
            `_update_terms`   from the whole-row statistic to the coefficients of the update
    pass 2  `_write_tiles`    the update over a range of columns, optionally last tile first,
                              one `_write_tile` per tile

`_row_block` is the rows and selection of one program. The fused kernel runs all of it in one
program, or, where a whole row fits in one tile, `_tile_stats` and `_write_tile` on the same
loaded tile (one read); at decode sizes a statistics kernel runs pass 1 per split of D and the
update kernel sums the splits' partials before pass 2.
"""

from .jit import device_function, tl
from .tiles import project_tile

__all__ = ["OP_ABLATE", "OP_ADD", "OP_CLAMP", "OP_ROTATE", "ROTATE_MIN_U"]

# The operators, as the kernel's OP meta-parameter (constexpr: kernels read only constexpr globals).
OP_ADD, OP_ABLATE, OP_CLAMP, OP_ROTATE = (tl.constexpr(i) for i in range(4))
# Rotation has no direction when |u| vanishes (h antiparallel to v and alpha = 1); below this
# |u|, float32 rounding decides the result, so such rows are left unchanged.
ROTATE_MIN_U = 1e-3


@device_function
def _row_block(
    pid_n,  # which block of BLOCK_N rows
    mask_ptr,  # (B, T) uint8: nonzero = steer this row                     [HAS_MASK]
    N,  # rows, B * T
    T,  # positions per batch row (row r is h[r // T, r % T])
    stride_mb,
    stride_mt,
    HAS_MASK: tl.constexpr,  # without a mask every row is selected
    BLOCK_N: tl.constexpr,
):
    """The program's rows: (rows, row_ok, sel, b, t), b and t as int64 for addressing."""
    rows = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < N  # the last row block is partial
    b = rows // T
    t = rows % T
    sel = row_ok
    if HAS_MASK:
        m = tl.load(mask_ptr + b * stride_mb + t * stride_mt, mask=row_ok, other=0)
        sel = sel & (m != 0)
    return rows, row_ok, sel, b.to(tl.int64), t.to(tl.int64)


@device_function
def _tile_stats(
    proj,  # (BLOCK_N, K_PAD) running V^T h                                 [ablate, clamp]
    sum_sq,  # (BLOCK_N,) running |h|^2                                     [rotate]
    dot_v,  # (BLOCK_N,) running <h, v>                                     [rotate]
    v_sq,  # (BLOCK_D,) running |v|^2 by column                             [rotate]
    x,  # (BLOCK_N, BLOCK_D) float32 tile, zeros for rows that do not count
    v_ptr,  # rotate: v (D,); ablate, clamp: V (D, K)
    d,  # (BLOCK_D,) the tile's columns
    d_ok,  # (BLOCK_D,) columns that exist
    offs_k,  # (K_PAD,) arange(0, K_PAD)
    stride_vd,
    stride_vk,
    OP: tl.constexpr,
    K: tl.constexpr,
    USE_DOT: tl.constexpr,
    PRECISION: tl.constexpr,
    SPLIT_V: tl.constexpr,
):
    """One tile's part of the statistics: (proj, sum_sq, dot_v, v_sq) with the tile added."""
    if OP == OP_ROTATE:
        v = tl.load(v_ptr + d * stride_vd, mask=d_ok, other=0.0)
        sum_sq += tl.sum(x * x, axis=1)
        dot_v += tl.sum(x * v[None, :], axis=1)
        v_sq += v * v
    else:
        proj = project_tile(
            proj, x, v_ptr, d, d_ok, offs_k, stride_vd, stride_vk,
            K=K, USE_DOT=USE_DOT, PRECISION=PRECISION, SPLIT_V=SPLIT_V,
        )  # fmt: skip
    return proj, sum_sq, dot_v, v_sq


@device_function
def _row_stats(
    in_rows,  # (BLOCK_N,) pointers to the rows' first elements
    sel,  # (BLOCK_N,) rows to read; the others count as zeros
    v_ptr,  # rotate: v (D,); ablate, clamp: V (D, K)
    c_lo,  # the columns [c_lo, c_hi) to read, whole tiles from c_lo on
    c_hi,
    stride_hd,
    stride_vd,
    stride_vk,
    OP: tl.constexpr,
    K: tl.constexpr,
    K_PAD: tl.constexpr,
    USE_DOT: tl.constexpr,
    PRECISION: tl.constexpr,
    SPLIT_V: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    """Pass 1 over the columns [c_lo, c_hi): (proj, sum_sq, dot_v, v_sq).

    Ablate and clamp: proj (BLOCK_N, K_PAD) = the rows' part of V^T h. Rotate: sum_sq and dot_v
    (BLOCK_N,) = the rows' part of |h|^2 and <h, v>, and v_sq the scalar part of |v|^2.
    """
    offs_d = tl.arange(0, BLOCK_D)
    offs_k = tl.arange(0, K_PAD)
    proj = tl.zeros([BLOCK_N, K_PAD], dtype=tl.float32)
    sum_sq = tl.zeros([BLOCK_N], dtype=tl.float32)
    dot_v = tl.zeros([BLOCK_N], dtype=tl.float32)
    v_sq = tl.zeros([BLOCK_D], dtype=tl.float32)
    for d0 in range(c_lo, c_hi, BLOCK_D):
        d = tl.multiple_of(d0, BLOCK_D) + offs_d
        d_ok = d < c_hi  # the row's last tile is partial when D % BLOCK_D != 0
        # Unselected rows load as zeros and read no memory.
        x = tl.load(
            in_rows[:, None] + d[None, :] * stride_hd,
            mask=sel[:, None] & d_ok[None, :],
            other=0.0,
        ).to(tl.float32)
        proj, sum_sq, dot_v, v_sq = _tile_stats(
            proj, sum_sq, dot_v, v_sq, x, v_ptr, d, d_ok, offs_k, stride_vd, stride_vk,
            OP=OP, K=K, USE_DOT=USE_DOT, PRECISION=PRECISION, SPLIT_V=SPLIT_V,
        )  # fmt: skip
    return proj, sum_sq, dot_v, tl.sum(v_sq, axis=0)


@device_function
def _update_terms(
    proj,  # (BLOCK_N, K_PAD) V^T h                                         [ablate, clamp]
    sum_sq,  # (BLOCK_N,) |h|^2                                             [rotate]
    dot_v,  # (BLOCK_N,) <h, v>                                             [rotate]
    v_sq,  # |v|^2, a scalar or the same for every row                      [rotate]
    sel,  # (BLOCK_N,) selected rows
    values_ptr,  # (K,) float32 clamp targets                               [clamp]
    alpha,  # rotate's step toward v
    min_u_sq,  # rotate: rows with |u|^2 at or below this are left unchanged
    OP: tl.constexpr,
    K: tl.constexpr,
    K_PAD: tl.constexpr,
):
    """From whole-row statistics to the update: (coef, scale_h, scale_v, sel).

    Ablate and clamp write x + V coef; rotate writes scale_h x + scale_v v, and drops from `sel`
    the rows whose rotation has no direction.
    """
    offs_k = tl.arange(0, K_PAD)
    coef = tl.zeros_like(proj)
    scale_h = tl.zeros_like(sum_sq)
    scale_v = tl.zeros_like(sum_sq)
    if OP == OP_ABLATE:
        coef = -proj
    elif OP == OP_CLAMP:
        target = tl.load(values_ptr + offs_k, mask=offs_k < K, other=0.0)
        coef = tl.where((offs_k < K)[None, :], target[None, :] - proj, 0.0)
    elif OP == OP_ROTATE:
        # |u|^2 = 1 + 2 alpha <h, v>/(|h||v|) + alpha^2;  h' = (h + alpha |h| v/|v|) / |u|.
        norm = tl.sqrt(sum_sq)
        v_norm = tl.sqrt(v_sq)
        has_dir = norm * v_norm > 0.0
        cos = dot_v / tl.where(has_dir, norm * v_norm, 1.0)
        u_sq = 1.0 + 2.0 * alpha * cos + alpha * alpha
        has_dir = has_dir & (u_sq > min_u_sq)
        inv_u = 1.0 / tl.sqrt(tl.where(has_dir, u_sq, 1.0))
        scale_h = inv_u
        scale_v = alpha * norm * inv_u / tl.where(v_norm > 0.0, v_norm, 1.0)
        sel = sel & has_dir  # rows with no defined direction stay as they are
    return coef, scale_h, scale_v, sel


@device_function
def _write_tile(
    raw,  # (BLOCK_N, BLOCK_D) the tile as loaded, in h's dtype (zeros where not loaded)
    out_rows,  # (BLOCK_N,) pointers to the rows' first elements in the output
    io_mask,  # (BLOCK_N, BLOCK_D) elements to store
    sel,  # (BLOCK_N,) rows to update
    v_ptr,  # add: w = alpha V c (D,); rotate: v (D,); ablate, clamp: V (D, K)
    coef,  # (BLOCK_N, K_PAD)                                               [ablate, clamp]
    scale_h,  # (BLOCK_N,)                                                  [rotate]
    scale_v,  # (BLOCK_N,)                                                  [rotate]
    d,  # (BLOCK_D,) the tile's columns
    d_ok,  # (BLOCK_D,) columns that exist
    offs_k,  # (K_PAD,) arange(0, K_PAD)
    stride_od,
    stride_vd,
    stride_vk,
    OP: tl.constexpr,
    INPLACE: tl.constexpr,
    K: tl.constexpr,
    USE_DOT: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """Store one tile of the update; out of place, unselected rows as their raw loaded bits."""
    x = raw.to(tl.float32)
    if OP == OP_ADD:
        w = tl.load(v_ptr + d * stride_vd, mask=d_ok, other=0.0)
        new = x + w[None, :]
    elif OP == OP_ROTATE:
        v = tl.load(v_ptr + d * stride_vd, mask=d_ok, other=0.0)
        new = scale_h[:, None] * x + scale_v[:, None] * v[None, :]
    elif USE_DOT:
        # Padding directions load as zeros (their coefficients are zero too).
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
    new = new.to(out_rows.dtype.element_ty)
    if not INPLACE:
        new = tl.where(sel[:, None], new, raw)
    tl.store(out_rows[:, None] + d[None, :] * stride_od, new, mask=io_mask)


@device_function
def _write_tiles(
    in_rows,  # (BLOCK_N,) pointers to the rows' first elements in h
    out_rows,  # (BLOCK_N,) the same rows in the output
    row_ok,  # (BLOCK_N,) rows that exist
    sel,  # (BLOCK_N,) rows to update
    v_ptr,  # add: w = alpha V c (D,); rotate: v (D,); ablate, clamp: V (D, K)
    coef,  # (BLOCK_N, K_PAD)                                               [ablate, clamp]
    scale_h,  # (BLOCK_N,)                                                  [rotate]
    scale_v,  # (BLOCK_N,)                                                  [rotate]
    d_lo,  # the columns [d_lo, d_hi) to write, whole tiles from d_lo on
    d_hi,
    stride_hd,
    stride_od,
    stride_vd,
    stride_vk,
    OP: tl.constexpr,
    INPLACE: tl.constexpr,  # touch only selected rows of h
    REVERSE: tl.constexpr,  # last tile first: the tiles pass 1 read last are still in L2
    K: tl.constexpr,
    K_PAD: tl.constexpr,
    USE_DOT: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    """Pass 2: write the update on the columns [d_lo, d_hi).

    In place, only selected rows are read and written; out of place every row is read and
    written, the unselected ones as the raw loaded bits.
    """
    offs_d = tl.arange(0, BLOCK_D)
    offs_k = tl.arange(0, K_PAD)
    n_tiles = tl.cdiv(d_hi - d_lo, BLOCK_D)
    for i in range(0, n_tiles):
        if REVERSE:
            d0 = d_lo + (n_tiles - 1 - i) * BLOCK_D
        else:
            d0 = d_lo + i * BLOCK_D
        # Tiles never straddle d_hi (splits are whole tiles), so only the row's end needs a
        # mask (D % BLOCK_D != 0).
        d = tl.multiple_of(d0, BLOCK_D) + offs_d
        d_ok = d < d_hi
        if INPLACE:
            io_mask = sel[:, None] & d_ok[None, :]
        else:
            io_mask = row_ok[:, None] & d_ok[None, :]
        raw = tl.load(in_rows[:, None] + d[None, :] * stride_hd, mask=io_mask, other=0.0)
        _write_tile(
            raw, out_rows, io_mask, sel, v_ptr, coef, scale_h, scale_v, d, d_ok, offs_k,
            stride_od, stride_vd, stride_vk,
            OP=OP, INPLACE=INPLACE, K=K, USE_DOT=USE_DOT, PRECISION=PRECISION,
        )  # fmt: skip
