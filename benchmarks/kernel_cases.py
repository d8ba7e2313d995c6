"""The kernel benchmark cases: inputs, what each provider calls, and the bytes an op must move.

One case is (op, variant, tokens x d_model, k, dtype). Each provider gets a function of the
activation `h` that returns the op's result (in place: `h` itself, updated):

    torch-eager    native torch in h's dtype, as a user would write it: `h @ V` in bf16, the
                   steering update in bf16, in place with `add_` / `sub_` where torch has one
    torch-compile  the same function under `torch.compile`
    triton         the public kernel function, on the Triton path
    triton-per-block  the same on the grid of one program per row block, where the kernel also
                   has a persistent grid (two-pass ablate / clamp at 2-16 directions, capture with
                   5 or more directions on 16-bit input; `kernels.grids`): the two grids compared
    reference      the op's float32 torch reference (`*_reference`): the CPU path and the test
                   oracle, which every provider's result is compared with

Variants: `out` (every position, out of place), `inplace` (every position, in place) and `last`
(the last position of each sequence; in place for steering). Projection only reads `h`, so it has
`out` only; capture has `out` (every position) and `last`. `last` needs sequences longer than one
token (prefill sizes).

Bytes (the op's minimum, the same for every provider): the activation rows it must read, and
write (steering), once; plus V, the selection and the outputs.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

OPS = ("capture_reduce", "project", "steer_add", "steer_ablate", "steer_clamp", "steer_rotate")
OP_GROUPS = {"steer_update": OPS[2:], "all": OPS}
PROVIDERS = ("torch-eager", "torch-compile", "triton", "triton-per-block", "reference")
VARIANTS = ("out", "inplace", "last")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}
DECODE_MAX_TOKENS = 256  # up to this many tokens: a decode step, one new token per sequence
SEQUENCE = 2048  # longer inputs: sequences of up to this many tokens
N_LABELS = 2  # capture: batch rows alternate between two labels
ALPHA, ROTATE_ALPHA = 0.5, 0.2


def per_block(kernels: ModuleType, fn: Callable[[Tensor], Any]) -> Callable[[Tensor], Any]:
    """`fn` with the kernels on their grid of one program per row block."""
    grids = importlib.import_module(f"{kernels.__name__}.grids")

    def run(h: Tensor) -> Any:
        with grids.use_persistent_grids(False):
            return fn(h)

    return run


@dataclass
class Case:
    op: str
    variant: str
    tokens: int
    batch: int
    pos: int
    d_model: int
    k: int
    dtype: str
    bytes_moved: int
    make_h: Callable[[], Tensor]  # a fresh activation (B, T, D), the same values every call
    calls: dict[str, Callable[[Tensor], Any]]  # provider -> fn(h) -> result


def batch_shape(tokens: int) -> tuple[int, int]:
    """(batch, pos): decode sizes are one new token per sequence, longer inputs are sequences of
    up to SEQUENCE tokens."""
    if tokens <= DECODE_MAX_TOKENS:
        return tokens, 1
    batch = max(1, tokens // SEQUENCE)
    return batch, tokens // batch


def variants_for(op: str, pos: int) -> tuple[str, ...]:
    """The variants an op has at a sequence length (`last` needs more than one position)."""
    if op == "project":
        return ("out",)
    names = ("out", "last") if op == "capture_reduce" else VARIANTS
    return tuple(v for v in names if v != "last" or pos > 1)


def make_case(
    kernels: ModuleType,
    op: str,
    variant: str,
    tokens: int,
    d_model: int,
    k: int,
    dtype: torch.dtype,
    device: torch.device,
    seed: int = 0,
) -> Case | None:
    """One benchmark case, or None where the op has no such k or variant."""
    B, T = batch_shape(tokens)
    if variant not in variants_for(op, T):
        return None
    if op == "steer_rotate":
        k = 1  # one direction by definition
    elif k <= 0 and op != "capture_reduce":
        return None
    gen = torch.Generator(device="cpu").manual_seed(seed)
    es = torch.empty((), dtype=dtype).element_size()
    h0 = torch.randn(B, T, d_model, generator=gen).to(device=device, dtype=dtype)
    V = torch.linalg.qr(torch.randn(d_model, max(k, 1), generator=gen))[0].to(device)  # (D, k)
    last = variant == "last"
    rows = B if last else B * T  # the rows the op reads
    positions = torch.full((B,), T - 1, device=device)  # `last`: one position per batch row
    common = dict(op=op, variant=variant, tokens=tokens, batch=B, pos=T, d_model=d_model, k=k,
                  dtype=DTYPE_NAMES[dtype], make_h=h0.clone)  # fmt: skip

    if op == "project":
        bias = torch.randn(k, generator=gen).to(device)
        scale = (torch.rand(k, generator=gen) + 0.5).to(device)
        Vd, bias_d, scale_d = V.to(dtype), bias.to(dtype), scale.to(dtype)
        calls = {
            "torch-eager": lambda h: (h @ Vd) * scale_d + bias_d,
            "triton": lambda h: kernels.project(h, V, bias, scale),
            "reference": lambda h: kernels.project_reference(h, V, bias, scale),
        }
        nbytes = rows * d_model * es + d_model * k * 4 + rows * k * 4 + 2 * k * 4
        return Case(**common, bytes_moved=nbytes, calls=calls)

    if op == "capture_reduce":
        return _capture_case(kernels, common, h0, V, k, positions if last else None)
    return _steer_case(kernels, common, gen, h0, V, k, positions)


def _capture_case(
    kernels: ModuleType, common: dict, h0: Tensor, V: Tensor, k: int, positions: Tensor | None
) -> Case:
    B, T, D = h0.shape
    device, dtype, es = h0.device, h0.dtype, h0.element_size()
    labels = (torch.arange(B) % N_LABELS).to(device)
    dirs = V.T.contiguous() if k else None  # (k, D)
    Vd = V.to(dtype)
    rows = B if positions is not None else B * T
    # Native torch: a one-hot (labels x rows) matrix times the rows, in h's dtype.
    row_labels = labels if positions is not None else labels.repeat_interleave(T)
    one_hot = (row_labels[None, :] == torch.arange(N_LABELS, device=device)[:, None]).to(dtype)

    def native(h: Tensor) -> tuple:
        x = h[:, -1] if positions is not None else h.reshape(-1, D)  # (rows, D)
        sq = None
        if k:
            p = x @ Vd  # (rows, k)
            sq = one_hot @ (p * p)
        return one_hot @ x, one_hot.sum(1), sq

    def call(fn: Callable) -> Callable[[Tensor], tuple]:
        def run(h: Tensor) -> tuple:
            out = fn(h, positions, labels, N_LABELS, dirs)
            return out.sums, out.counts, out.sq_sums

        return run

    calls = {
        "torch-eager": native,
        "triton": call(kernels.capture_reduce),
        "reference": call(kernels.capture_reduce_reference),
    }
    if k >= 5 and dtype in (torch.float16, torch.bfloat16) and positions is None:
        calls["triton-per-block"] = per_block(kernels, calls["triton"])
    select_bytes = B * 8 if positions is not None else 0
    nbytes = rows * D * es + select_bytes + D * k * 4 + B * 8 + N_LABELS * (D + k + 1) * 4
    return Case(**common, bytes_moved=nbytes, calls=calls)


def _steer_case(
    kernels: ModuleType,
    common: dict,
    gen: torch.Generator,
    h0: Tensor,
    V: Tensor,
    k: int,
    positions: Tensor,
) -> Case:
    op, variant = common["op"], common["variant"]
    B, T, D = h0.shape
    device, dtype, es = h0.device, h0.dtype, h0.element_size()
    Vd = V.to(dtype)
    inplace = variant != "out"
    select = positions if variant == "last" else None

    # The update as native torch in h's dtype: `new(x)` for out of place, `update(x)` in place.
    if op == "steer_add":
        c = torch.randn(k, generator=gen).to(device)
        w = (ALPHA * (V @ c)).to(dtype)
        args: tuple = (V, c, ALPHA)

        def new(x: Tensor) -> Tensor:
            return x + w

        def update(x: Tensor) -> None:
            x.add_(w)

    elif op == "steer_ablate":
        args = (V,)

        def new(x: Tensor) -> Tensor:
            return x - (x @ Vd) @ Vd.T

        def update(x: Tensor) -> None:
            x.sub_((x @ Vd) @ Vd.T)

    elif op == "steer_clamp":
        values = torch.randn(k, generator=gen).to(device)
        values_d = values.to(dtype)
        args = (V, values)

        def new(x: Tensor) -> Tensor:
            return x + (values_d - x @ Vd) @ Vd.T

        def update(x: Tensor) -> None:
            x.add_((values_d - x @ Vd) @ Vd.T)

    elif op == "steer_rotate":
        v = V[:, 0].contiguous()
        unit = (v / v.norm()).to(dtype)
        args = (v, ROTATE_ALPHA)

        def new(x: Tensor) -> Tensor:
            norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
            u = x / norm + ROTATE_ALPHA * unit
            return norm * u / torch.linalg.vector_norm(u, dim=-1, keepdim=True)

        def update(x: Tensor) -> None:
            x.copy_(new(x))

    else:
        raise ValueError(f"unknown op {op!r}; choose from {', '.join(OPS)}")

    def native(h: Tensor) -> Tensor:
        if variant == "out":
            return new(h)
        update(h[:, -1] if variant == "last" else h)
        return h

    public = getattr(kernels, op)
    reference = getattr(kernels, f"{op}_reference")
    calls = {
        "torch-eager": native,
        "triton": lambda h: public(h, *args, select=select, inplace=inplace),
        "reference": lambda h: reference(h, *args, select=select, inplace=inplace),
    }
    if op in ("steer_ablate", "steer_clamp") and 2 <= k <= 16 and variant != "last":
        calls["triton-per-block"] = per_block(kernels, calls["triton"])
    rows = B if variant == "last" else B * T
    nbytes = 2 * rows * D * es + D * k * 4 + (B * 8 if select is not None else 0)
    return Case(**common, bytes_moved=nbytes, calls=calls)
