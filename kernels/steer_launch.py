"""Launching the steering kernels: tile sizes, column splits at decode sizes, and the grid.

`_launch` takes the operands already in the kernels' form (see `_steer_update_kernel`'s `v_ptr`);
the public functions in `steer_update` prepare them and choose between this and the references.
"""

import torch
from torch import Tensor

from .dispatch import (
    as_3d,
    cdiv,
    dot_precision,
    mask_bytes,
    next_power_of_2,
    sm_count,
    split_v,
)
from .grids import persistent_grids
from .steer_kernels import _steer_stats_kernel, _steer_update_kernel
from .steer_passes import OP_ABLATE, OP_ADD, OP_CLAMP, OP_ROTATE, ROTATE_MIN_U
from .steer_persistent import PROGRAMS_PER_SM, _steer_persistent_kernel
from .tiles import DOT_MIN_K, k_padded

__all__ = [
    "ONE_PASS_ELEMENTS",
    "ONE_PASS_MAX_K",
    "PERSISTENT_BLOCK_N",
    "PIPELINE_STAGES",
    "_launch",
]

# One-pass tiles hold a whole row: at most this many elements per program (32 float32 per thread
# at 8 warps), so BLOCK_N = ONE_PASS_ELEMENTS // the row's power-of-two width, up to 16 rows.
# Ablate and clamp keep each direction's column of V in registers too: compiled for sm_90 at
# width 4096, two or more directions leave room for one program per SM, so only one direction
# goes in one pass (rotate and k = 1 stay within 128 registers).
ONE_PASS_ELEMENTS = 8192
ONE_PASS_MAX_K = 1
# Stages of Triton's software pipeline on the persistent grid, in place (sm_90, triton 3.9: it
# issues asynchronous copies for the tl.dot path; 3 stages, or 2 out of place, spill at clamp
# k = 16, so out of place runs unpipelined).
PIPELINE_STAGES = 2
# Rows per block on the persistent grid: 2 x 132 resident programs of 16 bf16 rows of 4096 hold
# 34 MB, within an H100's 50 MB L2 (32-row blocks would hold 69 MB).
PERSISTENT_BLOCK_N = 16
# The widest padded k the persistent grid takes by default (k_pad 64 spills there in float32).
PERSISTENT_MAX_K_PAD = 16


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
    persistent: bool | None = None,
    n_programs: int | None = None,
) -> Tensor:
    """Run the kernels on h (..., D); `vec` is already in the kernels' form (see `v_ptr`).
    Block sizes, D splits and the one-pass path are chosen here unless given (tests).

    The two-pass path (ablate, clamp, rotate; rows wider than a tile; one split) runs on the
    persistent grid of `n_programs` (default PROGRAMS_PER_SM x the SMs) unless `persistent` is
    False, which keeps one program per row block (the benchmarks time both)."""
    h3 = as_3d(h)
    if inplace and h3.data_ptr() != h.data_ptr():  # pragma: no cover - exotic >3-D strides
        new = _launch(
            op, h, vec, values, alpha, mask, False, block_n, block_d, d_splits, one_pass,
            persistent, n_programs,
        )  # fmt: skip
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
    block_n_given = block_n
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
    two_pass = op != OP_ADD and not one_pass and not from_stats
    if persistent is None:  # k > 16 spills on the persistent grid (sm_90, triton 3.9)
        persistent = k_pad <= PERSISTENT_MAX_K_PAD and persistent_grids()
    if two_pass and persistent:
        if block_n_given is None:  # what the resident programs hold must stay within L2
            block_n = min(block_n, PERSISTENT_BLOCK_N)
            n_blocks, meta["BLOCK_N"] = cdiv(N, block_n), block_n
        programs = n_programs or PROGRAMS_PER_SM * sm_count(device)
        programs = max(1, min(programs, n_blocks))
        _steer_persistent_kernel[(programs,)](
            h3, out3, m, vec2, values if values is not None else vec,
            N, T, D, n_blocks, programs, float(alpha), ROTATE_MIN_U**2,
            h3.stride(0), h3.stride(1), h3.stride(2),
            out3.stride(0), out3.stride(1), out3.stride(2),
            m.stride(0), m.stride(-1), vec2.stride(0), vec2.stride(1),
            INPLACE=inplace, num_stages=PIPELINE_STAGES if inplace else 1, **meta,
        )  # fmt: skip
        return out
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
