"""Projections on 16-bit operands: V split once into two parts of h's dtype (`split_directions`),
`tl.dot` on the activation tile as loaded, float32 accumulation. The interpreter has no bf16
arithmetic, so the kernel tests run the same code in fp16; the split itself is checked in both."""

import pytest
import torch

from interp.kernels import capture_reduce, capture_reduce_reference, project, project_reference
from interp.kernels.capture_persistent import _capture_columns_kernel
from interp.kernels.capture_reduce import _capture_reduce_kernel
from interp.kernels.grids import use_persistent_grids
from interp.kernels.project import _project_kernel
from interp.kernels.tiles import k_padded, split_directions


def wide_range_directions(D: int, k: int, seed: int = 0) -> torch.Tensor:
    """(D, k) with entries from 1e-4 to 1e5: fp16 overflows past 65504 and flushes below 6e-8
    unless the split scales V first."""
    g = torch.Generator().manual_seed(seed)
    magnitude = 10.0 ** torch.empty(D, k).uniform_(-4, 5, generator=g)
    return magnitude * torch.randn(D, k, generator=g).sign()


@pytest.mark.parametrize("dtype, bits", [(torch.float16, 21), (torch.bfloat16, 15)], ids=str)
def test_split_recovers_v(dtype, bits):
    """(hi + lo) * scale is V to about 2**-bits of its largest entry; hi alone is not (the
    control: one 16-bit part loses what the second part restores)."""
    V = wide_range_directions(300, 7)
    split = split_directions(V, dtype, k_padded(7))
    assert split.hi.shape == split.lo.shape == (300, 16) and split.hi.dtype == dtype
    assert split.hi.is_contiguous() and split.lo.is_contiguous()
    assert torch.equal(split.hi[:, 7:].float(), torch.zeros(300, 9))  # padding directions
    scale = split.scale.item()
    assert scale == 2.0 ** round(torch.log2(torch.tensor(scale)).item())  # a power of two
    both = (split.hi.double() + split.lo.double())[:, :7] * scale
    hi_only = split.hi.double()[:, :7] * scale
    top = V.abs().max().item()
    assert (both - V.double()).abs().max().item() <= top * 2.0**-bits
    assert (hi_only - V.double()).abs().max().item() > top * 2.0**-bits * 8


def launched(kernel, call):
    """`call()`, checking that it launched `kernel` (the Triton path, not the reference)."""
    before = kernel.launches
    out = call()
    assert kernel.launches > before, "the Triton kernel did not run"
    return out


@pytest.mark.parametrize("k", [5, 16, 40])
@pytest.mark.parametrize("persistent", [True, False], ids=["persistent", "per-tile"])
def test_capture_sq_sums_native_fp16_are_float32_accurate(
    k, persistent, device, triton_backend, make_randn, assert_close
):
    """fp16 activations, directions of wide range: the squared projections agree with a float64
    computation to float32-like accuracy (a one-part fp16 V would miss by about 1e-3), on the
    persistent grid and on the per-tile one."""
    B, T, D = 3, 70, 96  # 70 rows: a full 64-row tile and a partial one
    h = make_randn(B, T, D, dtype=torch.float16, device=device)
    dirs = wide_range_directions(D, k).T.contiguous().to(device)  # (k, D)
    select = torch.rand(B, T, generator=torch.Generator().manual_seed(3)) > 0.3
    labels = torch.tensor([0, 1, 0], device=device)
    kernel = _capture_columns_kernel if persistent else _capture_reduce_kernel
    with use_persistent_grids(persistent):
        got = launched(kernel, lambda: capture_reduce(h, select.to(device), labels, 2, dirs))
    x = h.double().reshape(-1, D)
    proj = x @ dirs.double().T
    weight = select.reshape(-1).to(device) & (labels[:, None].expand(B, T).reshape(-1) == 0)
    want0 = (proj[weight] ** 2).sum(0)
    rel = ((got.sq_sums[0].double() - want0).abs() / want0.abs().clamp_min(1e-30)).max().item()
    assert rel < 2e-5, rel
    want = capture_reduce_reference(h, select.to(device), labels, 2, dirs)
    assert_close(got.sums, want.sums, atol=1e-3, rtol=1e-5)
    assert torch.equal(got.counts, want.counts)


@pytest.mark.parametrize("k", [5, 16])
@pytest.mark.parametrize("d_splits", [1, 3])
def test_project_native_fp16_and_bitwise_reproducible(
    k, d_splits, device, triton_backend, make_randn
):
    """Scores from fp16 activations against float64 to float32-like accuracy, prefill (whole
    rows) and split along D (decode); two runs are bitwise equal (no atomics)."""
    from interp.kernels.project import _launch

    h = make_randn(2, 37, 130, dtype=torch.float16, device=device)
    V = wide_range_directions(130, k, seed=1).to(device)
    bias = torch.linspace(-1, 1, k, device=device)
    first = launched(_project_kernel, lambda: _launch(h, V, bias, None, d_splits=d_splits))
    again = _launch(h, V, bias, None, d_splits=d_splits)
    assert torch.equal(first, again)
    want = h.double().reshape(-1, 130) @ V.double() + bias.double()
    err = (first.double() - want).abs().max().item()
    assert err <= 2e-6 * want.abs().max().item(), err
    public = project(h, V, bias)
    assert torch.equal(public.reshape(-1, k), _launch(h, V, bias, None))
    ref = project_reference(h, V, bias).reshape(-1, k)
    assert (public.reshape(-1, k).double() - ref.double()).abs().max().item() <= 1e-5 * (
        want.abs().max().item()
    )
