"""Capture with directions on a persistent grid: programs own a column block and loop over rows.

`capture_reduce` with k >= DOT_MIN_K directions on 16-bit activations (the `tl.dot` path, V split
once into two parts of h's dtype, `tiles.split_directions`). The per-tile grid
(`capture_reduce._capture_reduce_kernel`) has one program per 64-row tile walk all of D: it
re-reads both parts of V from L2 at every column tile and issues a column-sum atomic per column
per tile (about half a million at 8192 x 4096). Here:

    kernel 1  grid (column blocks, row programs). Program (c, q) loads its BLOCK_D rows of both
              parts of V once, then loops over its contiguous range of row blocks (one tile of
              BLOCK_T rows each, in the same (batch row, span) order as the per-tile grid). Per
              tile it adds the tile's column sums to a (BLOCK_D,) float32 accumulator held in
              registers, and stores the tile's partial projections on its columns,
              (BLOCK_T, K) float32, to `partials[c]`. It issues one atomic per column when its
              label changes (batch rows are ordered, so a range of blocks holds few label runs)
              and once at the end: about n_programs x BLOCK_D atomics a call.
    kernel 2  grid (row programs,). For each row, sums the column blocks' partials in column
              order (a fixed order: each row's projection is the same bits every run), scales by
              v_scale, squares, and accumulates per label with the counts, one atomic per label
              run per program.

Bytes: the rows once, plus the partials written and read once, n_col x N x K x 4: at 8192 x 4096
with 128-column blocks, 8 MB each way at k = 8 and 16 MB at k = 16 beside 64 MB of bf16 rows
(read back right after they are written, so mostly from L2; a GPU has to tell). 128 columns,
not 256, because a (64, 256) tile needs 132-175 registers on sm_90 (compile report). Sums, counts and
squared sums meet in float32 atomics across programs, so their last bits vary run to run (as on
the per-tile grid); the per-row projections do not.
"""

import torch
from torch import Tensor

from .dispatch import cdiv, lazy_jit, tl
from .jit import device_function
from .tiles import SplitDirections

__all__ = ["CAPTURE_PROGRAMS_PER_SM", "reduce_persistent"]

# Programs per SM (all column blocks together): enough loads in flight to cover DRAM latency.
CAPTURE_PROGRAMS_PER_SM = 2
# Software-pipeline stages of the row-block loop.
CAPTURE_STAGES = 2
# What a program selects (the same codes as `capture_reduce`).
_SELECT_INDEX, _SELECT_MASK = tl.constexpr(1), tl.constexpr(2)


@device_function
def _spread(cond, like):
    """A scalar condition as a vector shaped like `like` (the interpreter cannot broadcast a
    scalar bool into a vector mask)."""
    return (like * 0 + cond.to(tl.int32)) != 0


@device_function
def _block_rows(
    r,  # row block: batch row r // n_spans, span r % n_spans
    pos_ptr,  # (B,) int64 selected position per batch row              [SELECT_INDEX]
    mask_ptr,  # (B, T) uint8 selection                                  [SELECT_MASK]
    labels_ptr,  # (B,) int64 labels
    T,
    n_labels,
    span,  # positions per block: BLOCK_T, or T with SELECT_INDEX (narrowed to one row)
    n_spans,
    stride_mb,
    stride_mt,
    SELECT: tl.constexpr,
    BLOCK_T: tl.constexpr,
):
    """(b, t, in_span, sel, label, has_rows) of row block r: at most one tile of BLOCK_T rows.
    Rows of a label outside [0, n_labels) are out of the span; `has_rows`: the span is not empty."""
    b = r // n_spans
    t_lo = (r % n_spans) * span
    t_hi = tl.minimum(t_lo + span, T)
    if SELECT == _SELECT_INDEX:  # negative or out-of-range positions select nothing
        p = tl.load(pos_ptr + b).to(tl.int32)
        t_lo = tl.maximum(t_lo, p)
        t_hi = tl.minimum(t_hi, p + 1)
    label = tl.load(labels_ptr + b).to(tl.int32)
    label_ok = (label >= 0) & (label < n_labels)
    t_hi = tl.where(label_ok, t_hi, t_lo)
    t = t_lo + tl.arange(0, BLOCK_T)
    in_span = t < t_hi
    sel = in_span
    if SELECT == _SELECT_MASK:
        m = tl.load(mask_ptr + b * stride_mb + t * stride_mt, mask=in_span, other=0)
        sel = sel & (m != 0)
    return b.to(tl.int64), t.to(tl.int64), in_span, sel, label, t_hi > t_lo


@lazy_jit
def _capture_columns_kernel(
    h_ptr,  # (B, T, D) fp16 / bf16 activations, any strides
    pos_ptr,
    mask_ptr,
    labels_ptr,
    hi_ptr,  # (D, K_PAD) h's dtype: V's high part / v_scale
    lo_ptr,  # (D, K_PAD) h's dtype: the rest
    sums_ptr,  # (L, D) float32 out, accumulated with atomics
    partials_ptr,  # (n_col, B * T, K_PAD) float32 out: each column block's projections
    N,  # rows, B * T
    T,
    D,
    n_labels,
    span,
    n_spans,
    n_blocks,  # row blocks, B * n_spans
    blocks_per_program,
    stride_hb,
    stride_ht,
    stride_hd,
    stride_mb,
    stride_mt,
    SELECT: tl.constexpr,
    K: tl.constexpr,
    K_PAD: tl.constexpr,
    BLOCK_T: tl.constexpr,
    BLOCK_D: tl.constexpr,
    NUM_STAGES: tl.constexpr,
):
    """Program (c, q): column block c, row blocks [q * blocks_per_program, ...) (see the module
    docstring). Both parts of V[c] and the column sums stay in registers across the loop."""
    pid_c = tl.program_id(0)
    pid_q = tl.program_id(1)
    r_lo = pid_q * blocks_per_program
    r_hi = tl.minimum(r_lo + blocks_per_program, n_blocks)
    d = pid_c * BLOCK_D + tl.arange(0, BLOCK_D)
    d_ok = d < D
    offs_k = tl.arange(0, K_PAD)
    v_tile = d[:, None] * K_PAD + offs_k[None, :]
    w_hi = tl.load(hi_ptr + v_tile, mask=d_ok[:, None], other=0.0)
    w_lo = tl.load(lo_ptr + v_tile, mask=d_ok[:, None], other=0.0)
    col_sums = tl.zeros([BLOCK_D], dtype=tl.float32)
    current = tl.full([], -1, tl.int32)  # the label col_sums belong to; -1: none yet
    part_c = partials_ptr + pid_c.to(tl.int64) * N * K_PAD
    for r in tl.range(r_lo, r_hi, num_stages=NUM_STAGES):
        b, t, in_span, sel, label, has_rows = _block_rows(
            r, pos_ptr, mask_ptr, labels_ptr, T, n_labels, span, n_spans, stride_mb, stride_mt,
            SELECT=SELECT, BLOCK_T=BLOCK_T,
        )  # fmt: skip
        raw = tl.load(
            h_ptr + b * stride_hb + t[:, None] * stride_ht + d[None, :] * stride_hd,
            mask=sel[:, None] & d_ok[None, :],
            other=0.0,
        )
        # A new label: hand the previous label's column sums over and start again.
        change = has_rows & (label != current)
        flush = change & (current >= 0)
        tl.atomic_add(
            sums_ptr + tl.maximum(current, 0) * D + d,
            col_sums,
            mask=d_ok & _spread(flush, d),
            sem="relaxed",
        )
        col_sums = tl.where(change, 0.0, col_sums)
        current = tl.where(change, label, current)
        col_sums += tl.sum(raw.to(tl.float32), axis=0)
        proj = tl.dot(raw, w_hi)
        proj = tl.dot(raw, w_lo, proj)
        rows = b * T + t
        tl.store(
            part_c + rows[:, None] * K_PAD + offs_k[None, :],
            proj,
            mask=in_span[:, None] & (offs_k < K)[None, :],
        )
    tl.atomic_add(
        sums_ptr + tl.maximum(current, 0) * D + d, col_sums, mask=d_ok & _spread(current >= 0, d),
        sem="relaxed",
    )  # fmt: skip


@lazy_jit
def _capture_square_kernel(
    pos_ptr,
    mask_ptr,
    labels_ptr,
    v_scale_ptr,  # (1,) float32: the power of two V was divided by
    partials_ptr,  # (n_col, B * T, K_PAD) float32 from `_capture_columns_kernel`
    counts_ptr,  # (L,) float32 out
    sq_ptr,  # (L, K) float32 out
    N,  # rows, B * T
    T,
    n_labels,
    span,
    n_spans,
    n_blocks,
    blocks_per_program,
    n_col,
    stride_mb,
    stride_mt,
    SELECT: tl.constexpr,
    K: tl.constexpr,
    K_PAD: tl.constexpr,
    BLOCK_T: tl.constexpr,
):
    """Program q: the rows of blocks [q * blocks_per_program, ...): sums their partial
    projections over the column blocks in order, squares them, accumulates per label."""
    pid_q = tl.program_id(0)
    r_lo = pid_q * blocks_per_program
    r_hi = tl.minimum(r_lo + blocks_per_program, n_blocks)
    offs_k = tl.arange(0, K_PAD)
    k_ok = offs_k < K
    v_scale = tl.load(v_scale_ptr)
    col_stride = N * K_PAD  # elements per column block (the launcher keeps all < 2**31)
    sq = tl.zeros([K_PAD], dtype=tl.float32)
    count = tl.zeros([], dtype=tl.float32)
    current = tl.full([], -1, tl.int32)
    for r in range(r_lo, r_hi):
        b, t, in_span, sel, label, has_rows = _block_rows(
            r, pos_ptr, mask_ptr, labels_ptr, T, n_labels, span, n_spans, stride_mb, stride_mt,
            SELECT=SELECT, BLOCK_T=BLOCK_T,
        )  # fmt: skip
        change = has_rows & (label != current)
        flush = change & (current >= 0)
        tl.atomic_add(
            sq_ptr + tl.maximum(current, 0) * K + offs_k, sq, mask=k_ok & _spread(flush, offs_k)
        )
        tl.atomic_add(counts_ptr + tl.maximum(current, 0), count, mask=flush)
        sq = tl.where(change, 0.0, sq)
        count = tl.where(change, 0.0, count)
        current = tl.where(change, label, current)
        ptrs = partials_ptr + (b * T + t)[:, None] * K_PAD + offs_k[None, :]
        proj = tl.zeros([BLOCK_T, K_PAD], dtype=tl.float32)
        for c in range(0, n_col):
            proj += tl.load(ptrs + c * col_stride, mask=in_span[:, None] & k_ok[None, :], other=0.0)
        proj = proj * v_scale
        sq += tl.sum(proj * proj, axis=0)
        count += tl.sum(sel.to(tl.float32), axis=0)
    done = current >= 0
    tl.atomic_add(
        sq_ptr + tl.maximum(current, 0) * K + offs_k, sq, mask=k_ok & _spread(done, offs_k)
    )
    tl.atomic_add(counts_ptr + tl.maximum(current, 0), count, mask=done)


def reduce_persistent(
    h: Tensor,
    select_mode: int,
    pos: Tensor,
    mask: Tensor,
    labels: Tensor,
    n_labels: int,
    split: SplitDirections,
    k: int,
    sums: Tensor,
    counts: Tensor,
    sq: Tensor,
    sms: int,
    programs: int | None = None,
    block_t: int = 64,
    block_d: int = 128,
) -> None:
    """Add h's sums, counts and squared projections into the zeroed `sums`, `counts`, `sq`
    (`capture_reduce`'s accumulators). `programs`: row programs (default: about
    CAPTURE_PROGRAMS_PER_SM x `sms` programs over all column blocks)."""
    B, T, D = h.shape
    k_pad = split.hi.shape[1]
    span = T if select_mode == int(_SELECT_INDEX) else block_t
    n_spans = cdiv(T, span)
    n_blocks = B * n_spans
    n_col = cdiv(D, block_d)
    if programs is None:
        programs = cdiv(CAPTURE_PROGRAMS_PER_SM * sms, n_col)
    programs = max(1, min(programs, n_blocks))
    per_program = cdiv(n_blocks, programs)
    programs = cdiv(n_blocks, per_program)
    partials = torch.empty(n_col, B * T, k_pad, device=h.device, dtype=torch.float32)
    common = dict(SELECT=select_mode, K=k, K_PAD=k_pad, BLOCK_T=block_t)
    _capture_columns_kernel[(n_col, programs)](
        h, pos, mask, labels, split.hi, split.lo, sums, partials,
        B * T, T, D, n_labels, span, n_spans, n_blocks, per_program,
        h.stride(0), h.stride(1), h.stride(2), mask.stride(0), mask.stride(1),
        BLOCK_D=block_d, NUM_STAGES=CAPTURE_STAGES, num_warps=8 if block_d >= 256 else 4,
        **common,
    )  # fmt: skip
    # 8 warps: with 4, triton 3.6 spills 8 bytes at k = 16 on sm_90.
    _capture_square_kernel[(programs,)](
        pos, mask, labels, split.scale, partials, counts, sq,
        B * T, T, n_labels, span, n_spans, n_blocks, per_program, n_col,
        mask.stride(0), mask.stride(1),
        num_warps=8, **common,
    )  # fmt: skip
