"""The two-pass steering update on a persistent grid: a few programs per SM loop over row blocks.

Ablate, clamp and rotate read a row twice when it does not fit one tile (`steer_passes`): pass 1
for the statistics, pass 2 for the update. With one program per row block every block is in
flight at once, and at prefill sizes (64 MB of bf16 at 8192 x 4096) the first passes of later
blocks evict the rows pass 2 is about to re-read. Here `n_programs` (about PROGRAMS_PER_SM x the
SMs) programs each take the row blocks pid, pid + n_programs, ..., and run both passes of a
block before starting the next, so at any moment only n_programs blocks (n_programs x BLOCK_N x
D x element size bytes: about 34 MB for 264 programs of 16 bf16 rows of 4096) compete for L2,
and pass 2, last tile first, re-reads what pass 1 just read. The tile loops inside a block are
software-pipelined by the launch's `num_stages` (asynchronous copies on sm_80 and later).

`steer_launch._launch(..., persistent=False)` keeps the one-program-per-block grid
(`steer_kernels._steer_update_kernel`) for comparison; both give the same bits.
"""

from .dispatch import lazy_jit, tl
from .steer_passes import OP_ADD, _row_block, _row_stats, _update_terms, _write_tiles

__all__ = ["PROGRAMS_PER_SM", "_steer_persistent_kernel"]

# Programs per SM on the persistent grid: two keep each SM's memory pipe busy while the other
# program computes its update terms, within the ~128 registers a program uses (compile report).
PROGRAMS_PER_SM = 2


@lazy_jit
def _steer_persistent_kernel(
    # Pointers
    h_ptr,  # (B, T, D) activations, fp32 / fp16 / bf16, any strides
    out_ptr,  # (B, T, D) result in h's dtype (h_ptr itself when INPLACE)
    mask_ptr,  # (B, T) uint8: nonzero = steer this row                     [HAS_MASK]
    v_ptr,  # float32: rotate: v (D,); ablate, clamp: V (D, K)
    values_ptr,  # (K,) float32 clamp targets                                [OP == OP_CLAMP]
    # Sizes
    N,  # rows, B * T
    T,  # positions per batch row (row r is h[r // T, r % T])
    D,  # width
    n_blocks,  # row blocks, cdiv(N, BLOCK_N)
    n_programs,  # programs in the grid: each takes every n_programs-th block
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
    OP: tl.constexpr,  # OP_ABLATE, OP_CLAMP or OP_ROTATE
    HAS_MASK: tl.constexpr,  # without a mask every row is selected
    INPLACE: tl.constexpr,  # touch only selected rows of h
    K: tl.constexpr,  # directions (ablate, clamp)
    K_PAD: tl.constexpr,  # K rounded up to a power of two (>= 16 when USE_DOT); 4 for rotate
    USE_DOT: tl.constexpr,  # tl.dot for the projection and the reconstruction
    PRECISION: tl.constexpr,  # tl.dot input precision for float32 operands
    SPLIT_V: tl.constexpr,  # 16-bit h: project with V split into two TF32 parts
    BLOCK_N: tl.constexpr,  # rows per block
    BLOCK_D: tl.constexpr,  # columns per tile
):
    """Program pid runs pass 1 then pass 2 (last tile first) on the row blocks pid,
    pid + n_programs, ... < n_blocks. Grid: (n_programs,). Add (elementwise, one pass) does not
    come here."""
    tl.static_assert(OP != OP_ADD)
    pid = tl.program_id(0)
    for block in tl.range(pid, n_blocks, n_programs):
        rows, row_ok, sel, b, t = _row_block(
            block, mask_ptr, N, T, stride_mb, stride_mt, HAS_MASK=HAS_MASK, BLOCK_N=BLOCK_N
        )
        in_rows = h_ptr + b * stride_hb + t * stride_ht
        out_rows = out_ptr + b * stride_ob + t * stride_ot
        proj, sum_sq, dot_v, v_sq = _row_stats(
            in_rows, sel, v_ptr, 0, D, stride_hd, stride_vd, stride_vk,
            OP=OP, K=K, K_PAD=K_PAD, USE_DOT=USE_DOT, PRECISION=PRECISION, SPLIT_V=SPLIT_V,
            BLOCK_N=BLOCK_N, BLOCK_D=BLOCK_D,
        )  # fmt: skip
        coef, scale_h, scale_v, sel = _update_terms(
            proj, sum_sq, dot_v, v_sq, sel, values_ptr, alpha, min_u_sq, OP=OP, K=K, K_PAD=K_PAD
        )
        _write_tiles(
            in_rows, out_rows, row_ok, sel, v_ptr, coef, scale_h, scale_v, 0, D,
            stride_hd, stride_od, stride_vd, stride_vk,
            OP=OP, INPLACE=INPLACE, REVERSE=True, K=K, K_PAD=K_PAD,
            USE_DOT=USE_DOT, PRECISION=PRECISION, BLOCK_D=BLOCK_D,
        )  # fmt: skip
