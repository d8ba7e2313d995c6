"""Low-rank projection scores: every token against k directions in one pass over h.

    scores = (h @ V) * scale + bias          h (..., D), V (D, k), scale and bias (k,) optional

in float32 from fp32, fp16 or bf16 input, for k from 1 to 64. With V a bank of linear probes
(one column each) this scores every token with every probe while reading the activations once.

Bytes (the minimum): N x D x element size read, N x k x 4 written, plus V (D x k x 4, from L2
after the first program). At decode sizes, where D is split across programs, each split also
writes and torch's sum reads N x k x 4 partial scores per split. The torch reference upcasts h to
float32 first, so it moves N x D x (element size + 8) bytes and more.

Scores are deterministic: no atomics, and split partials are summed in a fixed order.

For fp16 / bf16 input with k >= 5 on an NVIDIA GPU the tile step is two `tl.dot`s on the tile as
loaded against V split once into two parts of h's dtype (`tiles.split_directions`), so V in L2
is 2 x D x K_PAD x 2 bytes and the activation tile is never widened to float32.
"""

from typing import Any

import torch
from torch import Tensor

from .dispatch import (
    as_3d,
    cdiv,
    dot_precision,
    lazy_jit,
    next_power_of_2,
    sm_count,
    split_v,
    tl,
    use_triton,
)
from .tiles import (
    DOT_MIN_K,
    k_padded,
    native_dot,
    project_tile,
    project_tile_native,
    split_directions,
)

__all__ = ["project", "project_reference"]


# ----------------------------------------------------------------------------------------------
# Triton kernel
# ----------------------------------------------------------------------------------------------


@lazy_jit
def _project_kernel(
    # Pointers
    h_ptr,  # (B, T, D) activations, fp32 / fp16 / bf16, any strides
    v_ptr,  # (D, K) float32 directions as columns, any strides; with NATIVE_DOT (D, K_PAD)
    #         contiguous in h's dtype, the high part of V / v_scale
    v_lo_ptr,  # (D, K_PAD) in h's dtype: the rest of V / v_scale            [NATIVE_DOT]
    v_scale_ptr,  # (1,) float32: the power of two V was divided by          [NATIVE_DOT]
    bias_ptr,  # (K,) float32                                       [HAS_BIAS]
    scale_ptr,  # (K,) float32                                      [HAS_SCALE]
    out_ptr,  # (n_splits, N, K) float32 scores or partial scores, contiguous
    # Sizes
    N,  # rows, B * T
    T,  # positions per batch row (row r is h[r // T, r % T])
    D,  # width
    d_per_split,  # columns per program along D (a multiple of BLOCK_D)
    # Strides, in elements
    stride_hb,
    stride_ht,
    stride_hd,
    stride_vd,
    stride_vk,
    # Meta-parameters
    K: tl.constexpr,  # number of directions
    K_PAD: tl.constexpr,  # K rounded up to a power of two (>= 16 when USE_DOT)
    HAS_BIAS: tl.constexpr,
    HAS_SCALE: tl.constexpr,
    USE_DOT: tl.constexpr,  # tl.dot (BLOCK_N x BLOCK_D) @ (BLOCK_D x K_PAD) per tile (tiles.py)
    PRECISION: tl.constexpr,  # tl.dot input precision for float32 operands
    SPLIT_V: tl.constexpr,  # 16-bit h: project with V split into two TF32 parts
    NATIVE_DOT: tl.constexpr,  # 16-bit h: tl.dot on h's own dtype with V split on the host
    BLOCK_N: tl.constexpr,  # rows per program
    BLOCK_D: tl.constexpr,  # columns per tile
):
    """One program scores BLOCK_N rows on the columns [d_lo, d_hi) of its split.

    Grid: (cdiv(N, BLOCK_N), n_splits). With one split (prefill) a program reads whole rows and
    stores finished scores; with several (decode: few rows, so more programs fill the device)
    each stores its partial, scaled scores as slice pid_s of the output, split 0 with the bias,
    and the launcher sums the slices.
    """
    pid_n = tl.program_id(0)
    pid_s = tl.program_id(1)
    rows = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < N  # the last row block is partial
    b = rows // T
    t = rows % T
    row_ptrs = h_ptr + b.to(tl.int64) * stride_hb + t.to(tl.int64) * stride_ht
    offs_d = tl.arange(0, BLOCK_D)
    offs_k = tl.arange(0, K_PAD)
    k_ok = offs_k < K  # padding directions score zero and are never stored

    d_lo = pid_s * d_per_split
    d_hi = tl.minimum(d_lo + d_per_split, D)
    acc = tl.zeros([BLOCK_N, K_PAD], dtype=tl.float32)
    for d0 in range(d_lo, d_hi, BLOCK_D):
        # Splits are whole tiles, so only the row's end needs a mask (D % BLOCK_D != 0).
        d = tl.multiple_of(d0, BLOCK_D) + offs_d
        d_ok = d < D
        raw = tl.load(
            row_ptrs[:, None] + d[None, :] * stride_hd,
            mask=row_ok[:, None] & d_ok[None, :],
            other=0.0,
        )
        if NATIVE_DOT:  # the tile as loaded, no widening
            acc = project_tile_native(acc, raw, v_ptr, v_lo_ptr, d, d_ok, offs_k, K_PAD=K_PAD)
        else:
            acc = project_tile(
                acc, raw.to(tl.float32), v_ptr, d, d_ok, offs_k, stride_vd, stride_vk,
                K=K, USE_DOT=USE_DOT, PRECISION=PRECISION, SPLIT_V=SPLIT_V,
            )  # fmt: skip

    if NATIVE_DOT:
        acc = acc * tl.load(v_scale_ptr)

    if HAS_SCALE:
        acc = acc * tl.load(scale_ptr + offs_k, mask=k_ok, other=0.0)[None, :]
    if HAS_BIAS:
        if pid_s == 0:
            acc += tl.load(bias_ptr + offs_k, mask=k_ok, other=0.0)[None, :]
    out_ptrs = out_ptr + (pid_s.to(tl.int64) * N + rows)[:, None] * K + offs_k[None, :]
    tl.store(out_ptrs, acc, mask=row_ok[:, None] & k_ok[None, :])


# ----------------------------------------------------------------------------------------------
# Launcher
# ----------------------------------------------------------------------------------------------


def _config(k_pad: int, use_dot: bool, D: int) -> tuple[int, int, int]:
    """(BLOCK_N, BLOCK_D, num_warps).

    Picked by compiling for sm_90 with triton 3.9 (no spills, <= ~128 registers, 16-byte
    loads), not yet by timing. With tl.dot, 64 rows per program halve the L2 re-reads of V
    against 32 (92 registers at k_pad 16); at k_pad 64, 32 rows and 8 warps (114 registers).
    """
    width = max(16, next_power_of_2(D))
    if not use_dot:
        return 32, min(128, width), 4
    if k_pad <= 16:
        return 64, min(64, width), 4
    return 32, min(64, width), 8


def _d_splits(n_blocks: int, D: int, block_d: int, device: torch.device) -> int:
    """Programs along D: one while the row blocks give at least half the SMs a program (prefill:
    whole rows per program, no partials); else (decode) about two programs per SM."""
    sms = sm_count(device)
    if 2 * n_blocks > sms:
        return 1
    return max(1, min(cdiv(D, block_d), cdiv(2 * sms, n_blocks)))


def _launch(
    h3: Tensor,
    V: Tensor,
    bias: Tensor | None,
    scale: Tensor | None,
    block_n: int | None = None,
    block_d: int | None = None,
    d_splits: int | None = None,
) -> Tensor:
    """Scores (B*T, k) float32 for activations viewed as (B, T, D)."""
    B, T, D = h3.shape
    N, k = B * T, V.shape[1]
    device = h3.device
    use_dot = k >= DOT_MIN_K
    k_pad = k_padded(k)
    default_n, default_d, num_warps = _config(k_pad, use_dot, D)
    block_n, block_d = block_n or default_n, block_d or default_d

    if N == 0 or k == 0 or D == 0:
        return torch.zeros(N, k, device=device, dtype=torch.float32)
    n_blocks = cdiv(N, block_n)
    if d_splits is None:
        d_splits = _d_splits(n_blocks, D, block_d, device)
    d_per_split = cdiv(cdiv(D, d_splits), block_d) * block_d  # whole tiles per split
    d_splits = cdiv(D, d_per_split)
    out = torch.empty(d_splits, N, k, device=device, dtype=torch.float32)  # every slot written
    V = V.to(device=device, dtype=torch.float32)
    native = native_dot(h3.dtype, k, device)
    V_lo, v_scale = V, V  # unused without NATIVE_DOT
    if native:
        split = split_directions(V, h3.dtype, k_pad)
        V, V_lo, v_scale = split.hi, split.lo, split.scale
    f32: dict[str, Any] = {"device": device, "dtype": torch.float32}
    bias_t = bias.to(**f32) if bias is not None else out  # unused without HAS_BIAS
    scale_t = scale.to(**f32) if scale is not None else out
    _project_kernel[(n_blocks, d_splits)](
        h3, V, V_lo, v_scale, bias_t, scale_t, out,
        N, T, D, d_per_split,
        h3.stride(0), h3.stride(1), h3.stride(2), V.stride(0), V.stride(1),
        K=k, K_PAD=k_pad, HAS_BIAS=bias is not None, HAS_SCALE=scale is not None,
        USE_DOT=use_dot, PRECISION=dot_precision(device),
        SPLIT_V=split_v(h3.dtype, device) and not native, NATIVE_DOT=native, BLOCK_N=block_n, BLOCK_D=block_d,
        num_warps=num_warps,
    )  # fmt: skip
    return out[0] if d_splits == 1 else out.sum(0)  # torch's sum: a fixed order


# ----------------------------------------------------------------------------------------------
# Public function and reference
# ----------------------------------------------------------------------------------------------


def _check(h: Tensor, V: Tensor, bias: Tensor | None, scale: Tensor | None) -> None:
    if h.dim() == 0 or not h.is_floating_point():
        raise ValueError(f"h must be a floating-point (..., d_model) tensor, got {h.dtype}")
    if V.dim() != 2 or V.shape[0] != h.shape[-1]:
        raise ValueError(
            f"V must be (d_model, k) with d_model = {h.shape[-1]}, got {tuple(V.shape)}"
        )
    for name, t in (("bias", bias), ("scale", scale)):
        if t is not None and t.shape != (V.shape[1],):
            raise ValueError(f"{name} must have shape (k,) = ({V.shape[1]},), got {tuple(t.shape)}")


def project(
    h: Tensor, V: Tensor, bias: Tensor | None = None, scale: Tensor | None = None
) -> Tensor:
    """Scores of every row of `h` on the columns of `V`: `(h @ V) * scale + bias`, float32.

    Args:
        h: activations (..., d_model), float32, float16 or bfloat16, any strides.
        V: directions as columns (d_model, k), k from 1 to 64 (more works, with more registers).
        bias, scale: optional per-direction (k,) terms, e.g. a bank of probes' intercepts and
            inverse temperatures.

    Returns:
        (..., k) float32 on h's device. Triton on CUDA, `project_reference` elsewhere.
    """
    _check(h, V, bias, scale)
    tensors = [h, V] + [t for t in (bias, scale) if t is not None]
    if use_triton(*tensors):
        return _launch(as_3d(h), V, bias, scale).view(*h.shape[:-1], V.shape[1])
    return project_reference(h, V, bias, scale)


def project_reference(
    h: Tensor, V: Tensor, bias: Tensor | None = None, scale: Tensor | None = None
) -> Tensor:
    """The same scores in float32 torch."""
    scores = h.float() @ V.to(device=h.device, dtype=torch.float32)  # (..., k)
    if scale is not None:
        scores = scores * scale.to(device=h.device, dtype=torch.float32)
    if bias is not None:
        scores = scores + bias.to(device=h.device, dtype=torch.float32)
    return scores
