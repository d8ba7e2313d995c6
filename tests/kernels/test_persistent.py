"""The persistent grids: two-pass steering (a few programs per SM looping over row blocks, both
passes of a block back to back) and capture with directions (programs that keep their columns of
V and their column sums across row blocks). Each against the float32 references and against the
one-program-per-block path, with more row blocks than programs and a ragged last block."""

import sys
from pathlib import Path

import pytest
import torch

from interp.kernels import (
    capture_reduce,
    capture_reduce_reference,
    steer_ablate_reference,
    steer_clamp,
    steer_clamp_reference,
    steer_rotate_reference,
)
from interp.kernels.capture_persistent import _capture_columns_kernel
from interp.kernels.capture_reduce import _capture_reduce_kernel
from interp.kernels.capture_reduce import _launch as capture_launch
from interp.kernels.grids import use_persistent_grids
from interp.kernels.steer_kernels import _steer_update_kernel
from interp.kernels.steer_launch import _launch
from interp.kernels.steer_passes import OP_ABLATE, OP_CLAMP, OP_ROTATE
from interp.kernels.steer_persistent import _steer_persistent_kernel

STEER_CODES = {"ablate": OP_ABLATE, "clamp": OP_CLAMP, "rotate": OP_ROTATE}


def steer_operands(op: str, D: int, k: int, device):
    gen = torch.Generator().manual_seed(7)
    V = torch.linalg.qr(torch.randn(D, k, generator=gen))[0].to(device)
    values = torch.linspace(-1, 1, k, device=device)
    v = torch.randn(D, generator=gen).to(device)
    vec = v if op == "rotate" else V
    reference = {
        "ablate": lambda h, s, i: steer_ablate_reference(h, V, s, i),
        "clamp": lambda h, s, i: steer_clamp_reference(h, V, values, s, i),
        "rotate": lambda h, s, i: steer_rotate_reference(h, v, 0.4, s, i),
    }[op]
    return vec, values, reference


def steer_select(kind: str, B: int, T: int, device):
    if kind == "all":
        return None
    if kind == "few":  # a selection of a few rows
        mask = torch.zeros(B, T, dtype=torch.bool)
        mask[0, 1] = mask[B - 1, T - 1] = mask[1, 0] = True
        return mask.to(device)
    gen = torch.Generator().manual_seed(5)
    return (torch.rand(B, T, generator=gen) > 0.4).to(device)


@pytest.mark.parametrize("op,k", [("ablate", 3), ("clamp", 16), ("rotate", 1)])
@pytest.mark.parametrize("select_kind", ["all", "mask", "few"])
@pytest.mark.parametrize("inplace", [False, True], ids=["out", "inplace"])
def test_persistent_steering_matches_reference_and_grid_per_block(
    op, k, select_kind, inplace, device, triton_backend, make_randn, assert_close
):
    """7 row blocks of 16 (the last ragged: 100 rows) over 3 programs, 5 column tiles (the last
    partial): the reference's values, and the same bits as one program per block."""
    B, T, D = 4, 25, 300
    h0 = make_randn(B, T, D, dtype=torch.float16, device=device)
    vec, values, reference = steer_operands(op, D, k, device)
    select = steer_select(select_kind, B, T, device)
    tiles = {"block_n": 16, "block_d": 64}
    code = STEER_CODES[op]
    before = (_steer_persistent_kernel.launches, _steer_update_kernel.launches)
    h = h0.clone()
    got = _launch(code, h, vec, values, 0.4, select, inplace, n_programs=3, **tiles)
    assert _steer_persistent_kernel.launches == before[0] + 1
    assert _steer_update_kernel.launches == before[1]
    assert (got is h) == inplace
    per_block = _launch(
        code, h0.clone(), vec, values, 0.4, select, inplace, persistent=False, **tiles
    )
    assert _steer_update_kernel.launches == before[1] + 1
    assert torch.equal(got, per_block), "both grids compute the same bits"
    if select is not None:
        assert torch.equal(got[~select], h0[~select]), "unselected rows must be bit-identical"
    assert_close(got, reference(h0.clone(), select, False), name=f"{op} persistent")


@pytest.mark.parametrize("n_programs", [1, 2, 7, 50])
def test_persistent_steering_any_program_count(
    n_programs, device, triton_backend, make_randn, assert_close
):
    """One program doing every block, fewer programs than blocks, and more (capped)."""
    h0 = make_randn(2, 27, 130, dtype=torch.float32, device=device)
    vec, values, reference = steer_operands("clamp", 130, 5, device)
    got = _launch(OP_CLAMP, h0, vec, values, 0.0, None, False, 16, 32, n_programs=n_programs)
    assert_close(got, reference(h0, None, False), name=f"{n_programs} programs")


# ----------------------------------------------------------------------------------------------
# Capture with directions (16-bit tl.dot path: fp16 in the interpreter)
# ----------------------------------------------------------------------------------------------


def capture_select(kind: str, B: int, T: int, device):
    gen = torch.Generator().manual_seed(3)
    if kind == "all":
        return None
    if kind == "index":  # one position per batch row, one of them none (-1)
        pos = torch.randint(0, T, (B,), generator=gen)
        pos[1] = -1
        return pos.to(device)
    if kind == "few":
        mask = torch.zeros(B, T, dtype=torch.bool)
        mask[0, 3] = mask[2, T - 1] = mask[3, 0] = True
        return mask.to(device)
    return (torch.rand(B, T, generator=gen) > 0.4).to(device)


def check_capture(got, want, assert_close):
    assert torch.equal(got.counts.cpu(), want.counts.cpu()), (got.counts, want.counts)
    assert_close(got.sums, want.sums, atol=1e-3, rtol=1e-4, name="sums")
    top = float(want.sq_sums.abs().max()) or 1.0
    assert_close(got.sq_sums, want.sq_sums, atol=1e-4 * top, rtol=1e-3, name="sq")


@pytest.mark.parametrize("select_kind", ["all", "mask", "few", "index"])
@pytest.mark.parametrize("k", [5, 16])
@pytest.mark.parametrize("programs", [1, 3])
def test_persistent_capture_matches_reference(
    select_kind, k, programs, device, triton_backend, make_randn, assert_close
):
    """Row blocks of 16 (T = 37: the last of each batch row ragged) over 1 or 3 row programs,
    labels in runs with one dropped (-1), 3 column blocks of 32 (the last partial): the
    reference's sums, counts and squared projections; the per-tile grid agrees."""
    B, T, D = 5, 37, 70
    h = make_randn(B, T, D, dtype=torch.float16, device=device)
    dirs = make_randn(k, D, device=device, seed=9)
    labels = torch.tensor([0, 0, 2, -1, 1], device=device)
    select = capture_select(select_kind, B, T, device)
    before = (_capture_columns_kernel.launches, _capture_reduce_kernel.launches)
    got = capture_launch(h, select, labels, 3, dirs, 16, 32, programs=programs)
    assert _capture_columns_kernel.launches == before[0] + 1
    assert _capture_reduce_kernel.launches == before[1]
    want = capture_reduce_reference(h, select, labels, 3, dirs)
    check_capture(got, want, assert_close)
    per_tile = capture_launch(h, select, labels, 3, dirs, 16, 32, persistent=False)
    assert _capture_reduce_kernel.launches == before[1] + 1
    check_capture(got, per_tile, assert_close)


def test_persistent_capture_defaults_and_rows_reproducible(
    device, triton_backend, make_randn, assert_close
):
    """Default tiles (64 rows, 128 columns: the third column block partial at D = 300) and grid; a
    second call gives the same squared sums (one program: no atomic races between programs)."""
    h = make_randn(3, 70, 300, dtype=torch.float16, device=device)
    dirs = make_randn(8, 300, device=device, seed=4)
    labels = torch.tensor([1, 0, 1], device=device)
    got = capture_launch(h, None, labels, 2, dirs)
    check_capture(got, capture_reduce_reference(h, None, labels, 2, dirs), assert_close)
    again = capture_launch(h, None, labels, 2, dirs)
    assert torch.equal(got.sq_sums, again.sq_sums) and torch.equal(got.sums, again.sums)


def test_use_persistent_grids_selects_the_per_block_grid(device, triton_backend, make_randn):
    """The benchmarks' switch: the public functions launch the per-block grids inside
    `use_persistent_grids(False)`, the persistent ones outside, with the same results."""
    h = make_randn(2, 40, 96, dtype=torch.float16, device=device)
    V = torch.linalg.qr(torch.randn(96, 6))[0].to(device)
    dirs = V.T.contiguous()
    labels = torch.tensor([0, 1], device=device)
    counters = (_steer_persistent_kernel, _steer_update_kernel)
    counters += (_capture_columns_kernel, _capture_reduce_kernel)
    before = [kernel.launches for kernel in counters]
    persistent = (steer_clamp(h, V, torch.zeros(6)), capture_reduce(h, None, labels, 2, dirs))
    with use_persistent_grids(False):
        per_block = (steer_clamp(h, V, torch.zeros(6)), capture_reduce(h, None, labels, 2, dirs))
    assert [kernel.launches - b for kernel, b in zip(counters, before, strict=True)] == [1, 1, 1, 1]
    # The grids' default row blocks differ (16 and 32 rows), so the last bits may too.
    assert torch.allclose(persistent[0].float(), per_block[0].float(), atol=2e-3, rtol=2e-3)
    assert torch.equal(persistent[1].counts, per_block[1].counts)
    assert torch.allclose(persistent[1].sq_sums, per_block[1].sq_sums, rtol=1e-4)


def test_benchmark_times_both_grids(device, triton_backend, make_randn, assert_close):
    """The harness's `triton-per-block` provider exists exactly where a persistent grid does,
    and gives the triton provider's results."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        import kernel_cases
    finally:
        sys.path.pop(0)
    from interp import kernels

    def case(op, variant, k, dtype=torch.float16):
        return kernel_cases.make_case(kernels, op, variant, 4096, 64, k, dtype, device)

    for op, variant, k, has in [
        ("steer_ablate", "out", 16, True),
        ("steer_clamp", "inplace", 4, True),
        ("steer_clamp", "last", 16, False),  # a few rows: columns split instead
        ("steer_ablate", "out", 1, False),  # one pass
        ("steer_rotate", "out", 1, False),
        ("capture_reduce", "out", 8, True),
        ("capture_reduce", "out", 1, False),
    ]:
        assert ("triton-per-block" in case(op, variant, k).calls) == has, (op, variant, k)
    assert "triton-per-block" not in case("capture_reduce", "out", 8, torch.float32).calls
    steer = case("steer_clamp", "out", 8)
    h = steer.make_h()
    assert_close(steer.calls["triton-per-block"](h), steer.calls["triton"](h), atol=2e-3, rtol=2e-3)
