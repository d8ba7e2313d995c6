"""capture_reduce: the Triton kernel against the float32 reference over a grid of shapes."""

import pytest
import torch

from interp.kernels import CaptureSums, capture_reduce, capture_reduce_reference, use_backend
from interp.kernels.capture_reduce import _capture_reduce_kernel, _launch

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
KS = [0, 1, 3, 16, 64]


def make_select(kind: str, B: int, T: int, device, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    if kind == "all":
        return None
    if kind == "mask":
        return (torch.rand(B, T, generator=gen) > 0.4).to(device)
    if kind == "index":  # includes "none" (-1) and an out-of-range position
        pos = torch.randint(0, T, (B,), generator=gen)
        pos[0] = -1
        if B > 2:
            pos[2] = T + 3
        return pos.to(device)
    if kind == "empty":
        return torch.zeros(B, T, dtype=torch.bool, device=device)
    raise ValueError(kind)


def make_labels(B: int, n_labels: int, device, seed: int = 2):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, n_labels, (B,), generator=gen)
    if B > 1:
        labels[-1] = -1  # dropped
    return labels.to(device)


def check(got: CaptureSums, want: CaptureSums, assert_close, scale: float = 1.0) -> None:
    assert got.sums.dtype == torch.float32 and got.counts.dtype == torch.float32
    assert torch.equal(got.counts.cpu(), want.counts.cpu()), (got.counts, want.counts)
    assert_close(got.sums, want.sums, atol=1e-4 * scale, rtol=1e-5, name="sums")
    if want.sq_sums is None:
        assert got.sq_sums is None
    else:
        # Squared projections grow with D and k; compare relative to their size.
        top = float(want.sq_sums.abs().max()) if want.sq_sums.numel() else 1.0
        assert_close(got.sq_sums, want.sq_sums, atol=1e-5 * top + 1e-5, rtol=1e-4, name="sq")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("select_kind", ["all", "mask", "index"])
def test_matches_reference_dtypes_and_ks(
    dtype, k, select_kind, device, triton_backend, make_randn, assert_close
):
    B, T, D, L = 3, 5, 67, 3
    h = make_randn(B, T, D, dtype=dtype, device=device)
    dirs = make_randn(k, D, device=device, seed=5) if k else None
    select = make_select(select_kind, B, T, device)
    labels = make_labels(B, L, device)
    got = capture_reduce(h, select, labels, L, dirs)
    want = capture_reduce_reference(h, select, labels, L, dirs)
    check(got, want, assert_close)


@pytest.mark.parametrize(
    "shape",
    [(1, 1, 1), (2, 7, 33), (4, 16, 200), (1, 64, 130), (2, 3, 300)],
    ids=lambda s: "x".join(map(str, s)),
)
@pytest.mark.parametrize("k", [0, 16])
def test_matches_reference_shapes(shape, k, device, triton_backend, make_randn, assert_close):
    """Odd widths, rows longer than one block (200, 300 > 128), many positions per program."""
    B, T, D = shape
    h = make_randn(B, T, D, dtype=torch.bfloat16, device=device)
    dirs = make_randn(k, D, device=device, seed=3) if k else None
    select = make_select("mask", B, T, device)
    labels = make_labels(B, 2, device)
    check(
        capture_reduce(h, select, labels, 2, dirs),
        capture_reduce_reference(h, select, labels, 2, dirs),
        assert_close,
    )


@pytest.mark.parametrize("k", [0, 3, 16])
def test_small_blocks_many_tiles(k, device, triton_backend, make_randn, assert_close):
    """Blocks far smaller than the row and the span: many column and row tiles per program."""
    B, T, D = 2, 37, 45
    h = make_randn(B, T, D, device=device)
    dirs = make_randn(k, D, device=device, seed=4) if k else None
    select = make_select("mask", B, T, device)
    labels = torch.tensor([1, 0], device=device)
    got = _launch(h, select, labels, 2, dirs, block_t=16, block_d=16)
    check(got, capture_reduce_reference(h, select, labels, 2, dirs), assert_close)


def test_non_contiguous_input(device, triton_backend, make_randn, assert_close):
    """A transposed view (stride 1 along positions) and a strided slice, read without a copy."""
    B, T, D = 2, 9, 40
    base = make_randn(B, D, T, dtype=torch.float16, device=device)
    h = base.transpose(1, 2)  # (B, T, D), stride(-1) == T
    assert not h.is_contiguous()
    labels = torch.tensor([0, 1], device=device)
    dirs = make_randn(16, 2 * D, device=device)[:, ::2]  # non-contiguous directions
    select = make_select("mask", B, T, device)
    check(
        capture_reduce(h, select, labels, 2, dirs),
        capture_reduce_reference(h, select, labels, 2, dirs),
        assert_close,
    )
    sliced = make_randn(B, 2 * T, D + 3, device=device)[:, ::2, 1:-2]
    check(
        capture_reduce(sliced, None, labels, 2),
        capture_reduce_reference(sliced, None, labels, 2),
        assert_close,
    )


@pytest.mark.parametrize("k", [0, 3])
def test_empty_selection_and_empty_inputs(k, device, triton_backend, make_randn):
    B, T, D = 2, 4, 24
    h = make_randn(B, T, D, device=device)
    dirs = make_randn(k, D, device=device) if k else None
    labels = torch.tensor([0, 1], device=device)
    got = capture_reduce(h, make_select("empty", B, T, device), labels, 2, dirs)
    assert not got.sums.any() and not got.counts.any()
    assert got.sq_sums is None if not k else not got.sq_sums.any()
    none = capture_reduce(h, torch.full((B,), -1, device=device), labels, 2, dirs)
    assert not none.counts.any()
    empty = capture_reduce(h[:, :0], None, labels, 2, dirs)  # T = 0
    assert empty.sums.shape == (2, D) and not empty.counts.any()
    dropped = capture_reduce(h, None, torch.tensor([-1, 5], device=device), 2, dirs)
    assert not dropped.counts.any() and not dropped.sums.any()


def test_counts_and_means_planted(device, triton_backend, make_randn):
    """Rows of label l are l + noise: the means come back as l."""
    B, T, D = 6, 8, 20
    labels = torch.arange(B, device=device) % 3
    h = labels[:, None, None].float() + 0.01 * make_randn(B, T, D, device=device)
    got = capture_reduce(h, None, labels, 3)
    assert got.counts.tolist() == [16.0, 16.0, 16.0]
    means = got.sums / got.counts[:, None]
    assert torch.allclose(means.cpu(), torch.arange(3.0)[:, None].expand(3, D), atol=0.01)


def test_interpreter_really_runs(device, triton_backend, make_randn):
    """The forced Triton path launched the kernel (in the interpreter on a CPU)."""
    before = _capture_reduce_kernel.launches
    h = make_randn(1, 2, 8, device=device)
    capture_reduce(h, None, torch.zeros(1, dtype=torch.long, device=device), 1)
    assert _capture_reduce_kernel.launches == before + 1
    assert _capture_reduce_kernel.built_for_interpreter() == (device.type == "cpu")


def test_auto_backend_uses_reference_on_cpu(make_randn):
    before = _capture_reduce_kernel.launches
    h = make_randn(1, 2, 8)
    with use_backend("auto"):
        got = capture_reduce(h, None, torch.zeros(1, dtype=torch.long), 1)
    assert _capture_reduce_kernel.launches == before
    assert torch.allclose(got.sums[0], h[0].sum(0))


def test_rejects_bad_shapes(make_randn):
    h = make_randn(2, 3, 4)
    labels = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="batch, pos, d_model"):
        capture_reduce(h[0], None, labels, 1)
    with pytest.raises(ValueError, match="labels"):
        capture_reduce(h, None, labels[:1], 1)
    with pytest.raises(ValueError, match="selection mask"):
        capture_reduce(h, torch.ones(2, 4, dtype=torch.bool), labels, 1)
    with pytest.raises(ValueError, match="directions"):
        capture_reduce(h, None, labels, 1, torch.ones(3, 5))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("k", [0, 16, 64])
def test_full_size_on_gpu(dtype, k, cuda, make_randn, assert_close):
    """Prefill size, 8192 tokens x 4096, on the GPU against the reference."""
    B, T, D = 4, 2048, 4096
    h = make_randn(B, T, D, dtype=dtype, device=cuda)
    dirs = make_randn(k, D, device=cuda, seed=3) / D**0.5 if k else None
    select = make_select("mask", B, T, cuda)
    labels = torch.tensor([0, 1, 0, 1], device=cuda)
    with use_backend("triton"):
        got = capture_reduce(h, select, labels, 2, dirs)
    want = capture_reduce_reference(h, select, labels, 2, dirs)
    check(got, want, assert_close, scale=100.0)
    last = torch.full((B,), T - 1, device=cuda)
    with use_backend("triton"):
        got = capture_reduce(h, last, labels, 2, dirs)
    check(got, capture_reduce_reference(h, last, labels, 2, dirs), assert_close)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=str)
@pytest.mark.parametrize("k", [0, 3, 16, 64])
def test_compiles_for_hopper_without_spills(dtype, k, compile_for_sm90):
    """Each launch at prefill size compiles for sm_90; no register spills at k <= 16."""
    h = torch.empty(4, 2048, 4096, dtype=dtype)
    dirs = torch.empty(k, 4096) if k else None
    labels = torch.zeros(4, dtype=torch.long)
    mask = torch.ones(4, 2048, dtype=torch.bool)
    launches = compile_for_sm90(lambda: capture_reduce(h, mask, labels, 2, dirs))
    launches += compile_for_sm90(lambda: capture_reduce(h, torch.zeros(4).long(), labels, 2, dirs))
    for launch in launches:
        # bf16 at k >= 5 runs the persistent grid, whose second kernel only squares and sums.
        projects = k >= 5 and launch.kernel != "_capture_square_kernel"
        assert "mma" in launch.ptx if projects else "mma" not in launch.ptx
        if k <= 16 and launch.spill_bytes is not None:
            assert launch.spill_bytes == 0, launch
