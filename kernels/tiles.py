"""The tile step the projection kernels share: one tile of rows times one tile of directions.

    acc += x @ V[d, :K]          x (BLOCK_N, BLOCK_D) float32, V (D, K) float32, acc (BLOCK_N, K_PAD)

`project`, `capture_reduce` (squared projections) and the ablate / clamp steering updates (V^T h)
all walk a row in tiles of BLOCK_D columns and call this once per tile. Two ways to compute it:

- k < DOT_MIN_K: K multiply-add reductions over the tile (no tensor cores; padding to 16 would
  waste most of a `tl.dot`);
- k >= DOT_MIN_K: `tl.dot` with K padded to a power of two >= 16 (padding columns load as zeros).
  On NVIDIA GPUs a float32 `tl.dot` runs on TF32 tensor cores, which keep 10 of float32's 23
  mantissa bits. 16-bit activations are exact in TF32, so only V loses bits: with SPLIT_V, V is
  split into its TF32-exact high part and the remainder, and two TF32 products give about float32
  accuracy while leaving the activation tile alone (tf32x3 would split it too, at three products
  and more registers). Otherwise `PRECISION` ("tf32x3" on a GPU for float32 activations, "ieee"
  in the interpreter, where a float32 dot is exact).

Bytes: the V tile, BLOCK_D x K x 4, from L2 after the first program reads it.
"""

import torch
from torch import Tensor

from .jit import device_function, interpreting, tl

__all__ = [
    "DOT_MIN_K",
    "TF32_HIGH_BITS",
    "SplitDirections",
    "k_padded",
    "native_dot",
    "project_tile",
    "project_tile_native",
    "split_directions",
]

# From this many directions on, the projection is a `tl.dot` with k padded (see the docstring).
DOT_MIN_K = 5
# The bits of a float32 that TF32 keeps: sign, 8 exponent bits and the top 10 mantissa bits.
TF32_HIGH_BITS = tl.constexpr(0xFFFFE000)


def k_padded(k: int) -> int:
    """K_PAD for k directions: a power of two, at least 16 for `tl.dot`, at least 2 otherwise."""
    pad = 1 if k <= 1 else 1 << (int(k) - 1).bit_length()
    return max(16 if k >= DOT_MIN_K else 2, pad)


@device_function
def project_tile(
    acc,  # (BLOCK_N, K_PAD) float32 running projections of the tile's rows
    x,  # (BLOCK_N, BLOCK_D) float32 activation tile; masked elements loaded as 0
    # Pointers
    v_ptr,  # (D, K) float32 directions as columns, any strides
    # Offsets and masks
    d,  # (BLOCK_D,) column indices of the tile
    d_ok,  # (BLOCK_D,) d < D: the last column tile is partial when D % BLOCK_D != 0
    offs_k,  # (K_PAD,) arange(0, K_PAD)
    # Strides, in elements
    stride_vd,
    stride_vk,
    # Meta-parameters
    K: tl.constexpr,  # number of directions
    USE_DOT: tl.constexpr,  # K >= DOT_MIN_K: tl.dot with K padded
    PRECISION: tl.constexpr,  # tl.dot input precision for float32 operands
    SPLIT_V: tl.constexpr,  # 16-bit activations: two TF32 products with V split
):
    """`acc + x @ V[d, :K]`, with columns K..K_PAD of the result left at zero."""
    if USE_DOT:
        # Padding directions (k >= K) and columns past D load as zeros and add nothing.
        w = tl.load(
            v_ptr + d[:, None] * stride_vd + offs_k[None, :] * stride_vk,
            mask=d_ok[:, None] & (offs_k < K)[None, :],
            other=0.0,
        )
        if SPLIT_V:  # two exact TF32 halves of V; the activations are exact in TF32
            w_hi = (w.to(tl.uint32, bitcast=True) & TF32_HIGH_BITS).to(tl.float32, bitcast=True)
            acc = tl.dot(x, w_hi, acc, input_precision="tf32")
            acc = tl.dot(x, w - w_hi, acc, input_precision="tf32")
        else:
            acc = tl.dot(x, w, acc, input_precision=PRECISION)
    else:
        # One reduction per direction, placed in column j of the accumulator.
        for j in tl.static_range(K):
            w_j = tl.load(v_ptr + d * stride_vd + j * stride_vk, mask=d_ok, other=0.0)
            s_j = tl.sum(x * w_j[None, :], axis=1)
            acc += tl.where(offs_k[None, :] == j, s_j[:, None], 0.0)
    return acc


@device_function
def project_tile_native(
    acc,  # (BLOCK_N, K_PAD) float32 running projections (of V / v_scale)
    raw,  # (BLOCK_N, BLOCK_D) the activation tile as loaded, fp16 or bf16; masked as 0
    hi_ptr,  # (D, K_PAD) contiguous, h's dtype: V's high part (`split_directions`)
    lo_ptr,  # (D, K_PAD) contiguous, h's dtype: the rest
    d,  # (BLOCK_D,) column indices of the tile
    d_ok,  # (BLOCK_D,) d < D
    offs_k,  # (K_PAD,) arange(0, K_PAD)
    K_PAD: tl.constexpr,
):
    """`acc + raw @ (hi + lo)[d]`: two `tl.dot`s on 16-bit operands with float32 accumulation
    (`wgmma` on Hopper for tiles of 64 rows per warpgroup). V is padded on the host, so only the
    row's end needs a mask; the caller multiplies the result by v_scale."""
    v_tile = d[:, None] * K_PAD + offs_k[None, :]
    w_hi = tl.load(hi_ptr + v_tile, mask=d_ok[:, None], other=0.0)
    w_lo = tl.load(lo_ptr + v_tile, mask=d_ok[:, None], other=0.0)
    acc = tl.dot(raw, w_hi, acc)
    return tl.dot(raw, w_lo, acc)


def native_dot(dtype: torch.dtype, k: int, device: torch.device) -> bool:
    """Whether a projection of `dtype` activations on k directions runs `tl.dot` on the
    activations as loaded (fp16 / bf16 operands, float32 accumulation) against V split into two
    parts of the same dtype (`split_directions`): half the register and L2 bytes of float32 V
    and no widening of the tile. NVIDIA GPUs; in the interpreter fp16 only (numpy has no bf16
    arithmetic), so the interpreter tests check the same code in fp16."""
    if k < DOT_MIN_K:
        return False
    if interpreting():
        return dtype == torch.float16
    return (
        device.type == "cuda"
        and torch.version.hip is None
        and dtype
        in (
            torch.float16,
            torch.bfloat16,
        )
    )


class SplitDirections:
    """V (D, k) as two contiguous (D, K_PAD) parts in a 16-bit dtype, zero-padded past k, with
    `(hi + lo) * scale` equal to V up to about 2**-16 of its largest entry (bf16: 8 + 8 mantissa
    bits; fp16: 11 + 11). `scale` (a one-element float32 tensor on V's device, so making it
    reads nothing back to the host) is a power of two that brings V's largest entry near 1, so
    fp16's narrow range neither overflows nor flushes the small parts; multiplying by it is exact.
    """

    def __init__(self, hi: Tensor, lo: Tensor, scale: Tensor) -> None:
        self.hi, self.lo, self.scale = hi, lo, scale


def split_directions(V: Tensor, dtype: torch.dtype, k_pad: int) -> SplitDirections:
    """Split float32 V (D, k) once on the host side of a launch (see `SplitDirections`)."""
    V = V.to(torch.float32)
    top = V.abs().amax().reshape(1) if V.numel() else torch.zeros(1, device=V.device)
    scale = torch.where(top > 0, torch.exp2(torch.ceil(torch.log2(top))), 1.0)
    scaled = torch.zeros(V.shape[0], k_pad, device=V.device, dtype=torch.float32)
    scaled[:, : V.shape[1]] = V / scale
    hi = scaled.to(dtype)
    lo = (scaled - hi.float()).to(dtype)
    return SplitDirections(hi.contiguous(), lo.contiguous(), scale)
