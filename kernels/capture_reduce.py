"""Fused capture: per-label sums, counts and squared projections of selected rows, in one pass.

Given activations h (B, T, D), a selection of positions per batch row and a label per batch row,

    sums[l]      = sum over selected (b, t) with labels[b] == l of h[b, t]            (L, D)
    counts[l]    = number of such rows                                                (L,)
    sq_sums[l,j] = sum over the same rows of <h[b, t], directions[j]>^2                (L, k)

accumulated in float32 from fp32, fp16 or bf16 input, reading each selected row once and never
gathering the rows into a new tensor. This is what the streaming capture reducers call per hook.

Bytes (the minimum any implementation moves): selected rows x D x element size read, plus the
selection, and (L x (D + k) + 1) x 4 written. The torch reference below gathers nothing either, but
upcasts h to float32 first (reads it, writes and re-reads a float32 copy).

With directions (k >= 5) and fp16 / bf16 input on an NVIDIA GPU the projections are `tl.dot`s on
the activation tile as loaded, against V split once into two 16-bit parts (`tiles.
split_directions`; about float32 accuracy), on 64-row tiles (`wgmma` on Hopper), on the persistent
grid of `capture_persistent` (V and column sums kept across row blocks); `_launch(persistent=False)`
keeps this kernel's grid, whose programs re-read both parts of V from L2 for every 64 rows.
"""

from dataclasses import dataclass

import torch
from torch import Tensor

from .capture_persistent import reduce_persistent
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
from .grids import persistent_grids
from .tiles import (
    DOT_MIN_K,
    k_padded,
    native_dot,
    project_tile,
    project_tile_native,
    split_directions,
)

__all__ = ["CaptureSums", "capture_reduce", "capture_reduce_reference"]

# What a program selects: every position, one position per batch row, or a mask.
SELECT_ALL, SELECT_INDEX, SELECT_MASK = tl.constexpr(0), tl.constexpr(1), tl.constexpr(2)


@dataclass
class CaptureSums:
    """Per-label float32 accumulators for one batch."""

    sums: Tensor  # (n_labels, D) float32
    counts: Tensor  # (n_labels,) float32 (exact up to 2**24 rows per call)
    sq_sums: Tensor | None = None  # (n_labels, k) float32 when directions were given


# ----------------------------------------------------------------------------------------------
# Triton kernel
# ----------------------------------------------------------------------------------------------


@lazy_jit
def _capture_reduce_kernel(
    # Pointers
    h_ptr,  # (B, T, D) activations, fp32 / fp16 / bf16, any strides
    pos_ptr,  # (B,) int64: the selected position of each batch row   [SELECT == SELECT_INDEX]
    mask_ptr,  # (B, T) uint8: nonzero = selected                      [SELECT == SELECT_MASK]
    labels_ptr,  # (B,) int64: label of each batch row
    dirs_ptr,  # (D, K) float32 directions as columns; with NATIVE_DOT (D, K_PAD) in h's
    #            dtype, the high part of V / v_scale                            [HAS_DIRS]
    dirs_lo_ptr,  # (D, K_PAD) in h's dtype: the rest of V / v_scale           [NATIVE_DOT]
    v_scale_ptr,  # (1,) float32: the power of two V was divided by            [NATIVE_DOT]
    sums_ptr,  # (L, D) float32 out, accumulated with atomics
    counts_ptr,  # (L,) float32 out
    sq_ptr,  # (L, K) float32 out                                          [HAS_DIRS]
    # Sizes
    T,  # positions per batch row
    D,  # width
    n_labels,  # L
    span,  # positions per program (a multiple of BLOCK_T)
    n_spans,  # programs per batch row along T
    # Strides, in elements
    stride_hb,
    stride_ht,
    stride_hd,
    stride_mb,
    stride_mt,
    stride_dd,
    stride_dk,
    # Meta-parameters
    SELECT: tl.constexpr,  # SELECT_ALL, SELECT_INDEX (pos_ptr) or SELECT_MASK (mask_ptr)
    HAS_DIRS: tl.constexpr,  # also accumulate squared projections on the K directions
    K: tl.constexpr,  # number of directions (0 without)
    K_PAD: tl.constexpr,  # K rounded up to a power of two (>= 16 when USE_DOT)
    USE_DOT: tl.constexpr,  # project with tl.dot rather than per-direction multiply-adds
    PRECISION: tl.constexpr,  # tl.dot input precision for float32 operands
    SPLIT_V: tl.constexpr,  # 16-bit h: project with V split into two TF32 parts
    NATIVE_DOT: tl.constexpr,  # 16-bit h: tl.dot on h's own dtype with V split on the host
    BLOCK_T: tl.constexpr,  # rows per tile
    BLOCK_D: tl.constexpr,  # columns per tile
):
    """One program reduces the positions [t_lo, t_hi) of one batch row b (all of one label).

    Without directions the grid is (B * n_spans, cdiv(D, BLOCK_D)): the program owns BLOCK_D
    columns, keeps a (BLOCK_T, BLOCK_D) float32 accumulator in registers across its rows, and adds
    its column sums to sums[label] with one atomic per column at the end.

    With directions the grid is (B * n_spans, 1): a projection needs whole rows, so the program
    (one tile of BLOCK_T rows: span == BLOCK_T) walks all of D, adds each column tile's sums to
    sums[label] (one atomic per column per program: the column sums of a tile are final once
    read) and accumulates the tile's projections (BLOCK_T, K_PAD); their squares go to
    sq_sums[label]. With NATIVE_DOT the activation tile goes into `tl.dot` as loaded (fp16 or
    bf16, no widening) against V's two halves, split on the host in the same dtype; the
    products accumulate in float32 and are scaled back by v_scale (a power of two, exact).
    """
    pid_r = tl.program_id(0)
    pid_d = tl.program_id(1)
    b = pid_r // n_spans
    t_lo = (pid_r % n_spans) * span
    t_hi = tl.minimum(t_lo + span, T)
    if SELECT == SELECT_INDEX:
        # Narrow the span to the one selected position; it stays empty when the position lies
        # outside it (negative positions select nothing).
        p = tl.load(pos_ptr + b).to(tl.int32)
        t_lo = tl.maximum(t_lo, p)
        t_hi = tl.minimum(t_hi, p + 1)
    label = tl.load(labels_ptr + b).to(tl.int32)
    # A label outside [0, n_labels) drops its rows: an empty span writes nothing.
    label_ok = (label >= 0) & (label < n_labels)
    t_hi = tl.where(label_ok, t_hi, t_lo)
    label = tl.where(label_ok, label, 0)

    offs_t = tl.arange(0, BLOCK_T)
    offs_d = tl.arange(0, BLOCK_D)
    offs_k = tl.arange(0, K_PAD)
    h_row = h_ptr + b.to(tl.int64) * stride_hb
    count = tl.zeros([BLOCK_T], dtype=tl.float32)

    if HAS_DIRS:
        sq = tl.zeros([K_PAD], dtype=tl.float32)
        for t0 in range(t_lo, t_hi, BLOCK_T):
            t = t0 + offs_t
            sel = t < t_hi  # the last tile of a span is partial
            if SELECT == SELECT_MASK:
                m = tl.load(mask_ptr + b * stride_mb + t * stride_mt, mask=sel, other=0)
                sel = sel & (m != 0)
            count += sel.to(tl.float32)
            if tl.sum(sel.to(tl.int32), axis=0) > 0:  # skip tiles with nothing selected
                proj = tl.zeros([BLOCK_T, K_PAD], dtype=tl.float32)
                row_ptrs = h_row + t.to(tl.int64)[:, None] * stride_ht
                for d0 in range(0, D, BLOCK_D):
                    d = d0 + offs_d
                    d_ok = d < D  # the last column tile is partial when D % BLOCK_D != 0
                    # Unselected rows load as zeros and read no memory.
                    raw = tl.load(
                        row_ptrs + d[None, :] * stride_hd,
                        mask=sel[:, None] & d_ok[None, :],
                        other=0.0,
                    )
                    x = raw.to(tl.float32)
                    tl.atomic_add(
                        sums_ptr + label * D + d, tl.sum(x, axis=0), mask=d_ok, sem="relaxed"
                    )
                    if NATIVE_DOT:
                        proj = project_tile_native(
                            proj, raw, dirs_ptr, dirs_lo_ptr, d, d_ok, offs_k, K_PAD=K_PAD
                        )
                    else:
                        proj = project_tile(
                            proj, x, dirs_ptr, d, d_ok, offs_k, stride_dd, stride_dk,
                            K=K, USE_DOT=USE_DOT, PRECISION=PRECISION, SPLIT_V=SPLIT_V,
                        )  # fmt: skip
                if NATIVE_DOT:
                    proj = proj * tl.load(v_scale_ptr)
                sq += tl.sum(proj * proj, axis=0)
        if t_hi > t_lo:
            tl.atomic_add(sq_ptr + label * K + offs_k, sq, mask=offs_k < K, sem="relaxed")
    else:
        d = pid_d * BLOCK_D + offs_d
        d_ok = d < D
        acc = tl.zeros([BLOCK_T, BLOCK_D], dtype=tl.float32)
        for t0 in range(t_lo, t_hi, BLOCK_T):
            t = t0 + offs_t
            sel = t < t_hi
            if SELECT == SELECT_MASK:
                m = tl.load(mask_ptr + b * stride_mb + t * stride_mt, mask=sel, other=0)
                sel = sel & (m != 0)
            count += sel.to(tl.float32)
            x = tl.load(
                h_row + t.to(tl.int64)[:, None] * stride_ht + d[None, :] * stride_hd,
                mask=sel[:, None] & d_ok[None, :],
                other=0.0,
            )
            acc += x.to(tl.float32)
        if t_hi > t_lo:
            tl.atomic_add(sums_ptr + label * D + d, tl.sum(acc, axis=0), mask=d_ok, sem="relaxed")

    # Every column program of a span counted the same rows; the first one reports them.
    if t_hi > t_lo:
        if pid_d == 0:
            tl.atomic_add(counts_ptr + label, tl.sum(count, axis=0), sem="relaxed")


# ----------------------------------------------------------------------------------------------
# Launcher
# ----------------------------------------------------------------------------------------------


def _config(k: int, D: int, dtype: torch.dtype, native: bool) -> tuple[int, int, int]:
    """(BLOCK_T, BLOCK_D, num_warps).

    Picked by compiling for sm_90 with triton 3.9 (no spills, <= ~128 registers, 16-byte loads;
    `benchmarks/compile_report.py` prints them), not yet by timing: without directions a
    (16, 256) tile per step; with NATIVE_DOT (16-bit h, k >= DOT_MIN_K) 64-row tiles, the
    M of one `wgmma` per warpgroup, so half the column-sum atomics and V re-reads of 32-row
    tiles; otherwise (32, 64), and (32, 32) for float32 input, whose tf32x3 products need more
    registers.
    """
    width = max(16, next_power_of_2(D))
    if not k:
        return 16, min(256, width), 4
    if native:
        return 64, min(64, width), 4
    return 32, min(32 if dtype == torch.float32 else 64, width), 4


def _launch(
    h: Tensor,
    select: Tensor | None,
    labels: Tensor,
    n_labels: int,
    directions: Tensor | None,
    block_t: int | None = None,
    block_d: int | None = None,
    persistent: bool | None = None,
    programs: int | None = None,
) -> CaptureSums:
    """Allocate the accumulators, pick block sizes and the grid, launch. The `tl.dot` path on
    16-bit h runs on the persistent grid (`capture_persistent`) unless `persistent` is False."""
    B, T, D = h.shape
    device = h.device
    k = 0 if directions is None else directions.shape[0]
    # One zeroed buffer (one memset) holds all three accumulators.
    buffer = torch.zeros(n_labels * (D + 1 + k), device=device, dtype=torch.float32)
    sums = buffer[: n_labels * D].view(n_labels, D)
    counts = buffer[n_labels * D : n_labels * (D + 1)]
    sq = buffer[n_labels * (D + 1) :].view(n_labels, k) if k else None
    if B * T == 0 or D == 0 or n_labels == 0:
        return CaptureSums(sums, counts, sq)

    labels = labels.long()
    if select is None:
        mode, pos, mask = SELECT_ALL, labels, labels[:, None]  # pos and mask unused
    elif select.dtype == torch.bool:
        mode, pos, mask = SELECT_MASK, labels, mask_bytes(select)
    else:
        mode, pos, mask = SELECT_INDEX, select.long(), labels[:, None]

    use_dot = k >= DOT_MIN_K
    k_pad = k_padded(k)
    native = native_dot(h.dtype, k, device)
    default_t, default_d, num_warps = _config(k, D, h.dtype, native)
    tile = (block_t or 64, block_d or min(128, max(16, next_power_of_2(D))))  # persistent
    block_t, block_d = block_t or default_t, block_d or default_d
    dirs, dirs_lo, v_scale = sums, sums, sums  # unused without directions
    if k:  # k > 0 only with directions
        assert directions is not None
        dirs = directions.to(device=device, dtype=torch.float32).T  # (D, k) view
        if native:
            split = split_directions(dirs, h.dtype, k_pad)
            persistent = persistent_grids() if persistent is None else persistent
            if persistent and B * T * k_pad * cdiv(D, tile[1]) < 2**31:
                assert sq is not None
                reduce_persistent(
                    h, int(mode), pos, mask, labels, n_labels, split, k, sums, counts, sq,
                    sm_count(device), programs, *tile,
                )  # fmt: skip
                return CaptureSums(sums, counts, sq)
            dirs, dirs_lo, v_scale = split.hi, split.lo, split.scale
    n_d = 1 if k else cdiv(D, block_d)  # a projection needs whole rows
    if mode == SELECT_INDEX:  # one position per batch row: one program per row
        span = T
    elif k:  # one tile of rows per program
        span = block_t
    else:  # enough spans along T to give every SM several programs, whole tiles each
        target = 8 * sm_count(device)
        n_spans = max(1, min(cdiv(T, block_t), cdiv(target, B * n_d)))
        span = cdiv(cdiv(T, n_spans), block_t) * block_t
    n_spans = cdiv(T, span)

    _capture_reduce_kernel[(B * n_spans, n_d)](
        h, pos, mask, labels, dirs, dirs_lo, v_scale, sums, counts, sq if sq is not None else sums,
        T, D, n_labels, span, n_spans,
        h.stride(0), h.stride(1), h.stride(2),
        mask.stride(0), mask.stride(1),
        dirs.stride(0), dirs.stride(1),
        SELECT=int(mode), HAS_DIRS=bool(k), K=k, K_PAD=k_pad, USE_DOT=use_dot,
        PRECISION=dot_precision(device), SPLIT_V=split_v(h.dtype, device) and not native,
        NATIVE_DOT=native,
        BLOCK_T=block_t, BLOCK_D=block_d, num_warps=num_warps,
    )  # fmt: skip
    return CaptureSums(sums, counts, sq)


# ----------------------------------------------------------------------------------------------
# Public function and reference
# ----------------------------------------------------------------------------------------------


def _check(
    h: Tensor, select: Tensor | None, labels: Tensor, n_labels: int, directions: Tensor | None
) -> None:
    if h.dim() != 3:
        raise ValueError(f"h must be (batch, pos, d_model), got shape {tuple(h.shape)}")
    if not h.is_floating_point():
        raise ValueError(f"h must be floating point, got {h.dtype}")
    if labels.shape != h.shape[:1] or labels.is_floating_point():
        raise ValueError(
            f"labels must be integers of shape (batch,) = ({h.shape[0]},), got "
            f"{labels.dtype} {tuple(labels.shape)}"
        )
    if n_labels < 0:
        raise ValueError(f"n_labels must be >= 0, got {n_labels}")
    if select is not None:
        row_mask(select, h.shape[:2])  # validates the shape and dtype
    if directions is not None and (directions.dim() != 2 or directions.shape[1] != h.shape[2]):
        raise ValueError(
            f"directions must be (k, d_model) with d_model = {h.shape[2]}, got "
            f"{tuple(directions.shape)}"
        )


def capture_reduce(
    h: Tensor,
    select: Tensor | None,
    labels: Tensor,
    n_labels: int,
    directions: Tensor | None = None,
) -> CaptureSums:
    """Per-label float32 sums, counts and (optionally) squared projections of selected rows.

    Args:
        h: activations (batch, pos, d_model), float32, float16 or bfloat16, any strides.
        select: which positions count: None (all), a bool mask (batch, pos), or an integer
            position per batch row (batch,), where negative or out-of-range positions select
            nothing.
        labels: integer label per batch row (batch,); rows whose label is outside
            [0, n_labels) are dropped (so -1 marks "no label").
        n_labels: number of labels L.
        directions: optional (k, d_model); adds `sq_sums[l, j]`, the sum over the label's rows of
            `<h_row, directions[j]>**2`.

    Returns:
        CaptureSums(sums (L, D), counts (L,), sq_sums (L, k) or None), float32, on h's device.
        Triton on CUDA (atomics: the summation order, and so the last bits, vary run to run),
        `capture_reduce_reference` elsewhere.
    """
    _check(h, select, labels, n_labels, directions)
    tensors = [h, labels] + [t for t in (select, directions) if t is not None]
    if use_triton(*tensors):
        return _launch(h, select, labels, n_labels, directions)
    return capture_reduce_reference(h, select, labels, n_labels, directions)


def capture_reduce_reference(
    h: Tensor,
    select: Tensor | None,
    labels: Tensor,
    n_labels: int,
    directions: Tensor | None = None,
) -> CaptureSums:
    """The same sums in float32 torch: a (L, B*T) weight matrix times the rows, no gather."""
    B, T, D = as_3d(h).shape
    x = h.float().reshape(B * T, D)  # (B*T, D)
    mask = row_mask(select, h.shape[:2])
    keep = torch.ones(B, T, dtype=torch.bool, device=h.device) if mask is None else mask
    labels = labels.long()
    label_ok = (labels >= 0) & (labels < n_labels)  # (B,)
    one_hot = labels[:, None] == torch.arange(n_labels, device=h.device)[None, :]  # (B, L)
    weight = (keep & label_ok[:, None])[:, :, None] & one_hot[:, None, :]  # (B, T, L)
    weight = weight.reshape(B * T, n_labels).float().T  # (L, B*T)
    sums = weight @ x  # (L, D)
    counts = weight.sum(1)  # (L,)
    sq = None
    if directions is not None:
        proj = x @ directions.to(device=h.device, dtype=torch.float32).T  # (B*T, k)
        sq = weight @ (proj * proj)  # (L, k)
    return CaptureSums(sums, counts, sq)
