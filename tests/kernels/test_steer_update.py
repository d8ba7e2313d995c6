"""Steering updates: the Triton kernel against the float32 references, selection and in-place
semantics (unselected rows bit-identical), and the planted behaviour of each operator."""

import pytest
import torch

from interp.kernels import (
    steer_ablate,
    steer_ablate_reference,
    steer_add,
    steer_add_reference,
    steer_clamp,
    steer_clamp_reference,
    steer_rotate,
    steer_rotate_reference,
    use_backend,
)
from interp.kernels.steer_kernels import _steer_stats_kernel, _steer_update_kernel
from interp.kernels.steer_launch import _launch
from interp.kernels.steer_passes import OP_ABLATE, OP_ADD, OP_CLAMP, OP_ROTATE

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
OPS = ["add", "ablate", "clamp", "rotate"]


def basis(D: int, k: int, device, seed: int = 3) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(D, k, generator=gen))[0].to(device)  # (D, k) orthonormal


def operator(op: str, D: int, k: int, device):
    """(kernel call, reference call), both taking (h, select, inplace)."""
    gen = torch.Generator().manual_seed(11)
    V = basis(D, k, device)
    if op == "add":
        c = torch.randn(k, generator=gen).to(device)
        return (
            lambda h, s, i: steer_add(h, V, c, 0.7, s, i),
            lambda h, s, i: steer_add_reference(h, V, c, 0.7, s, i),
        )
    if op == "ablate":
        return (
            lambda h, s, i: steer_ablate(h, V, s, i),
            lambda h, s, i: steer_ablate_reference(h, V, s, i),
        )
    if op == "clamp":
        values = torch.randn(k, generator=gen).to(device)
        return (
            lambda h, s, i: steer_clamp(h, V, values, s, i),
            lambda h, s, i: steer_clamp_reference(h, V, values, s, i),
        )
    v = torch.randn(D, generator=gen).to(device)
    return (
        lambda h, s, i: steer_rotate(h, v, 0.3, s, i),
        lambda h, s, i: steer_rotate_reference(h, v, 0.3, s, i),
    )


def make_select(kind: str, B: int, T: int, device):
    gen = torch.Generator().manual_seed(5)
    if kind == "all":
        return None
    if kind == "mask":
        return (torch.rand(B, T, generator=gen) > 0.5).to(device)
    if kind == "index":
        return torch.tensor([T - 1, -1] + [0] * (B - 2), device=device)[:B]
    if kind == "empty":
        return torch.zeros(B, T, dtype=torch.bool, device=device)
    raise ValueError(kind)


def selected_rows(select, B: int, T: int, device) -> torch.Tensor:
    if select is None:
        return torch.ones(B, T, dtype=torch.bool, device=device)
    if select.dtype == torch.bool:
        return select
    return torch.arange(T, device=device)[None, :] == select[:, None]


def run_and_check(op, h0, k, select, inplace, assert_close):
    B, T, D = h0.shape
    kernel, reference = operator(op, D, k, h0.device)
    h = h0.clone()
    got = kernel(h, select, inplace)
    want = reference(h0.clone(), select, inplace)
    assert got.dtype == h0.dtype and got.shape == h0.shape
    if inplace:
        assert got is h
    else:
        assert torch.equal(h, h0), "out of place must not modify its input"
    keep = ~selected_rows(select, B, T, h0.device)
    assert torch.equal(got[keep], h0[keep]), "unselected rows must be bit-identical"
    assert_close(got, want, name=f"{op} k={k} {h0.dtype}")


# Rotate takes one direction; the others k = 1, 3 (multiply-adds) and 16, 64 (tl.dot).
OP_KS = [(op, k) for op in OPS[:3] for k in (1, 3, 16, 64)] + [("rotate", 1)]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("op,k", OP_KS)
@pytest.mark.parametrize("inplace", [False, True], ids=["out", "inplace"])
def test_matches_reference(dtype, op, k, inplace, device, triton_backend, make_randn, assert_close):
    h0 = make_randn(3, 5, 70, dtype=dtype, device=device)
    run_and_check(op, h0, k, make_select("mask", 3, 5, device), inplace, assert_close)


@pytest.mark.parametrize("select_kind", ["all", "mask", "index", "empty"])
@pytest.mark.parametrize("op", OPS)
def test_selections(select_kind, op, device, triton_backend, make_randn, assert_close):
    h0 = make_randn(4, 6, 33, dtype=torch.bfloat16, device=device)
    for inplace in (False, True):
        select = make_select(select_kind, 4, 6, device)
        run_and_check(op, h0, 3, select, inplace, assert_close)


@pytest.mark.parametrize(
    "shape",
    [(1, 1, 1), (2, 7, 129), (1, 16, 300), (8, 8, 200)],
    ids=lambda s: "x".join(map(str, s)),
)
@pytest.mark.parametrize("op", OPS)
def test_shapes(shape, op, device, triton_backend, make_randn, assert_close):
    """Odd widths and rows longer than one block (129, 200 > 128; 300 > 256)."""
    h0 = make_randn(*shape, dtype=torch.float16, device=device)
    k = min(16, shape[-1])
    run_and_check(op, h0, k, make_select("mask", *shape[:2], device), False, assert_close)


@pytest.mark.parametrize("op", [OP_ADD, OP_ABLATE, OP_CLAMP])
@pytest.mark.parametrize("k", [2, 16])
def test_small_blocks(op, k, device, triton_backend, make_randn, assert_close):
    """Tiles much smaller than the row: several tiles in both passes."""
    h0 = make_randn(2, 9, 45, device=device)
    V = basis(45, k, device)
    values = torch.linspace(-1, 1, k, device=device)
    select = make_select("mask", 2, 9, device)
    vec = 0.5 * V.sum(1) if op == OP_ADD else V
    got = _launch(op, h0, vec, values, 0.0, select, False, block_n=16, block_d=16)
    want = {
        OP_ADD: lambda: steer_add_reference(h0, V, torch.ones(k, device=device), 0.5, select),
        OP_ABLATE: lambda: steer_ablate_reference(h0, V, select),
        OP_CLAMP: lambda: steer_clamp_reference(h0, V, values, select),
    }[op]()
    assert_close(got, want)


@pytest.mark.parametrize("op,k", [("add", 2), ("ablate", 2), ("clamp", 16), ("rotate", 1)])
@pytest.mark.parametrize("inplace", [False, True], ids=["out", "inplace"])
def test_decode_split_along_d(op, k, inplace, device, triton_backend, make_randn, assert_close):
    """A decode step: columns split across programs, the whole-row statistics of ablate, clamp
    and rotate from a separate pass's per-split partials; same results, unselected rows kept."""
    h0 = make_randn(5, 1, 75, dtype=torch.bfloat16, device=device)
    select = torch.tensor([[True], [False], [True], [True], [False]], device=device)
    V = basis(75, k, device)
    values = torch.linspace(-1, 1, k, device=device)
    c = torch.linspace(0.5, 1.5, k, device=device)
    vec = {"add": 0.7 * (V @ c), "ablate": V, "clamp": V, "rotate": V[:, 0] * 2}[op]
    code = {"add": OP_ADD, "ablate": OP_ABLATE, "clamp": OP_CLAMP, "rotate": OP_ROTATE}[op]
    before = _steer_stats_kernel.launches
    h = h0.clone()
    got = _launch(code, h, vec, values, 0.4, select, inplace, block_n=16, block_d=16, d_splits=3)
    assert _steer_stats_kernel.launches == before + (op != "add")  # add needs no statistics
    want = {
        "add": lambda: steer_add_reference(h0, V, c, 0.7, select),
        "ablate": lambda: steer_ablate_reference(h0, V, select),
        "clamp": lambda: steer_clamp_reference(h0, V, values, select),
        "rotate": lambda: steer_rotate_reference(h0, V[:, 0] * 2, 0.4, select),
    }[op]()
    assert (got is h) == inplace
    assert torch.equal(got[~select], h0[~select]), "unselected rows must be bit-identical"
    assert_close(got, want, name=f"{op} split")


@pytest.mark.parametrize("op,k", [("ablate", 1), ("clamp", 4), ("rotate", 1)])
@pytest.mark.parametrize("one_pass", [True, False], ids=["one-pass", "two-pass"])
@pytest.mark.parametrize("inplace", [False, True], ids=["out", "inplace"])
def test_one_pass_and_two_pass(
    op, k, one_pass, inplace, device, triton_backend, make_randn, assert_close
):
    """A row read once (the whole row one tile) or twice (statistics, then the update in tiles
    from the last): the same results, unselected rows kept."""
    h0 = make_randn(3, 7, 300, dtype=torch.float16, device=device)
    select = make_select("mask", 3, 7, device)
    V = basis(300, k, device)
    values = torch.linspace(-1, 1, k, device=device)
    vec = V[:, 0] * 3 if op == "rotate" else V
    code = {"ablate": OP_ABLATE, "clamp": OP_CLAMP, "rotate": OP_ROTATE}[op]
    tiles = {} if one_pass else {"block_n": 16, "block_d": 64}  # 5 tiles per row
    got = _launch(code, h0.clone(), vec, values, 0.6, select, inplace, one_pass=one_pass, **tiles)
    want = {
        "ablate": lambda: steer_ablate_reference(h0, V, select),
        "clamp": lambda: steer_clamp_reference(h0, V, values, select),
        "rotate": lambda: steer_rotate_reference(h0, V[:, 0] * 3, 0.6, select),
    }[op]()
    assert torch.equal(got[~select], h0[~select]), "unselected rows must be bit-identical"
    assert_close(got, want, name=f"{op} one_pass={one_pass}")


@pytest.mark.parametrize("op", OPS)
def test_non_contiguous_in_place(op, device, triton_backend, make_randn, assert_close):
    """A strided view is updated in place through its strides; its base sees the change."""
    base = make_randn(2, 12, 50, dtype=torch.bfloat16, device=device)
    view = base[:, ::2, 3:-7]  # (2, 6, 40), non-contiguous
    before = base.clone()
    select = make_select("mask", 2, 6, device)
    want = operator(op, 40, 3, device)[1](view.clone(), select, False)
    got = operator(op, 40, 3, device)[0](view, select, True)
    assert got is view
    assert_close(base[:, ::2, 3:-7], want)
    untouched = torch.ones_like(base, dtype=torch.bool)
    untouched[:, ::2, 3:-7] = False
    assert torch.equal(base[untouched], before[untouched])
    transposed = make_randn(2, 40, 6, device=device).transpose(1, 2)  # stride(-1) != 1
    run_and_check(op, transposed, 3, select, False, assert_close)


def test_empty_inputs(device, triton_backend, make_randn):
    V = basis(8, 2, device)
    for h in (make_randn(0, 3, 8, device=device), make_randn(2, 0, 8, device=device)):
        assert steer_ablate(h, V).shape == h.shape
        assert steer_rotate(h, V[:, 0], 0.5, inplace=True).shape == h.shape


def test_planted_behaviour(device, triton_backend, make_randn):
    """Ablate removes the span, clamp sets projections, rotate keeps the norm and turns toward
    v, add moves along V c."""
    D = 64
    h = make_randn(2, 8, D, device=device)
    V = basis(D, 4, device)
    values = torch.tensor([1.0, -2.0, 0.5, 3.0], device=device)
    assert (steer_ablate(h, V) @ V).abs().max() < 1e-4
    assert torch.allclose(steer_clamp(h, V, values) @ V, values.expand(2, 8, 4), atol=1e-4)
    v = V[:, 0] * 3.0
    rotated = steer_rotate(h, v, 0.5)
    assert torch.allclose(rotated.norm(dim=-1), h.norm(dim=-1), rtol=1e-5)
    cos = torch.nn.functional.cosine_similarity
    assert bool((cos(rotated, v.expand_as(h), dim=-1) > cos(h, v.expand_as(h), dim=-1)).all())
    c = torch.tensor([1.0, 0.0, 0.0, 2.0], device=device)
    assert torch.allclose(steer_add(h, V, c, 0.5) - h, 0.5 * (V @ c).expand_as(h), atol=1e-5)


def test_rotate_leaves_zero_rows(device, triton_backend, make_randn):
    h = make_randn(1, 4, 16, device=device)
    h[0, 1] = 0.0
    v = -h[0, 2] / h[0, 2].norm()  # alpha = 1 and v = -h/|h|: u = 0, no direction
    out = steer_rotate(h, v, 1.0)
    assert torch.equal(out[0, 1], h[0, 1])
    assert torch.allclose(out[0, 2], h[0, 2], atol=1e-5)
    assert torch.isfinite(out).all()


def test_interpreter_really_runs(device, triton_backend, make_randn):
    before = _steer_update_kernel.launches
    steer_ablate(make_randn(2, 8, device=device), basis(8, 1, device))
    assert _steer_update_kernel.launches == before + 1
    assert _steer_update_kernel.built_for_interpreter() == (device.type == "cpu")


def test_reference_path_matches_plumbing(make_randn):
    """On the reference path too: exact add at the hooked rows, nothing elsewhere."""
    h = make_randn(2, 3, 8)
    v = make_randn(8, seed=4)
    select = torch.tensor([[True, False, False], [False, False, True]])
    with use_backend("reference"):
        out = steer_add(h, v, 2.0, 1.0, select)
    assert torch.equal(out[select], h[select] + 2.0 * v)
    assert torch.equal(out[~select], h[~select])


def test_rejects_bad_arguments(make_randn):
    h = make_randn(2, 3, 8)
    with pytest.raises(ValueError, match="d_model, k"):
        steer_ablate(h, torch.ones(7, 2))
    with pytest.raises(ValueError, match="one per direction"):
        steer_clamp(h, torch.ones(8, 2), torch.ones(3))
    with pytest.raises(ValueError, match="selection mask"):
        steer_add(h, torch.ones(8), 1.0, select=torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="v must be"):
        steer_rotate(h, torch.ones(7), 0.1)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("op,k", [(op, k) for op, k in OP_KS if k != 3])
@pytest.mark.parametrize("B,T", [(64, 1), (4, 2048)], ids=["decode", "prefill"])
def test_full_size_on_gpu(dtype, op, k, B, T, cuda, make_randn, assert_close):
    """Decode (columns split, statistics from a separate pass) and prefill (one pass 1 per row
    block, pass 2 last tile first), out of place with a mask and in place at one position."""
    h0 = make_randn(B, T, 4096, dtype=dtype, device=cuda)
    with use_backend("triton"):
        run_and_check(op, h0, k, make_select("mask", B, T, cuda), False, assert_close)
        run_and_check(op, h0, k, make_select("index", B, T, cuda), True, assert_close)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=str)
@pytest.mark.parametrize(
    "op,k",
    [("add", 4), ("rotate", 1), ("ablate", 1), ("ablate", 3), ("clamp", 16), ("ablate", 64)],
)
@pytest.mark.parametrize("inplace", [False, True], ids=["out", "inplace"])
@pytest.mark.parametrize("tokens", [64, 8192], ids=["decode", "prefill"])
def test_compiles_for_hopper_without_spills(dtype, op, k, inplace, tokens, compile_for_sm90):
    """Prefill: one launch, whole rows per program. Decode: columns split across programs, with
    a statistics pass first for the operators that need whole-row statistics."""
    B, T = (tokens, 1) if tokens <= 256 else (tokens // 2048, 2048)
    h = torch.empty(B, T, 4096, dtype=dtype)
    mask = torch.ones(B, T, dtype=torch.bool)
    kernel, _ = operator(op, 4096, k, torch.device("cpu"))
    launches = compile_for_sm90(lambda: kernel(h, mask, inplace))
    split = tokens == 64 and op != "add"
    # Rows of 4096 fit one tile: rotate and one-direction projections read each row once.
    one_pass = tokens == 8192 and (op == "rotate" or op in ("ablate", "clamp") and k == 1)
    # Prefill rows read twice go to the persistent grid (two programs per SM) up to k = 16.
    persistent = tokens == 8192 and op != "add" and not one_pass and k <= 16
    names = ["_steer_persistent_kernel"] if persistent else ["_steer_update_kernel"]
    assert [launch.kernel for launch in launches] == (
        ["_steer_stats_kernel"] if split else []
    ) + names
    if persistent:
        assert launches[0].grid == (2 * 132,)
    else:
        assert all(launch.grid[1] > 1 for launch in launches) if split else launches[0].grid[1] >= 1
        assert launches[-1].constexprs["ONE_PASS"] == one_pass
    for launch in launches:
        if launch.spill_bytes is not None:
            assert launch.spill_bytes == 0, launch
