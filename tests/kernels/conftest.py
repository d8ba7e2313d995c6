"""Kernel tests: the Triton paths against the float32 references, on a GPU or in the interpreter.

Without CUDA this sets TRITON_INTERPRET=1 at import, so forcing the "triton" backend runs the
kernels in Triton's interpreter on CPU tensors. Triton reads the variable when a kernel is built;
`interp.kernels` builds its kernels at their first launch (see `jit.LazyKernel`), so it does
not matter that other test folders imported `interp` (and torch, and triton) before this file,
nor whether the variable was exported before pytest started (then triton's own library is built
for the interpreter, and `compile_for_sm90` lends the compiler compiled copies). The same holds on
triton 3.6 to 3.9. `test_interpreter_really_runs` in each test file checks that it did run there.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import importlib  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from interp.kernels import dispatch, jit, use_backend  # noqa: E402
from interp.kernels.dispatch import triton  # noqa: E402
from interp.kernels.launch_signature import launch_signature  # noqa: E402

# Tolerances for results stored in each dtype (about two units in the last place: the
# interpreter rounds float32 -> bfloat16 differently from the GPU), and for float32 results
# accumulated from inputs of any dtype.
DTYPE_TOL: dict[torch.dtype, tuple[float, float]] = {
    torch.float32: (2e-5, 2e-5),  # (atol, rtol)
    torch.float16: (2e-3, 2e-3),
    torch.bfloat16: (1.6e-2, 1.6e-2),
}
ACCUM_TOL = (2e-4, 2e-5)


def describe_difference(
    got: torch.Tensor, want: torch.Tensor, atol: float, rtol: float, name: str = ""
) -> str | None:
    """None when `got` matches `want` within atol + rtol * |want| everywhere; otherwise a report
    of where and how much they differ (worst element, count, first offending indices)."""
    if got.shape != want.shape:
        return f"{name}: shape {tuple(got.shape)} != expected {tuple(want.shape)}"
    g, w = got.detach().double().cpu(), want.detach().double().cpu()
    diff = (g - w).abs()
    allowed = atol + rtol * w.abs()
    nan_mismatch = g.isnan() != w.isnan()
    bad = ((diff > allowed) & ~(g.isnan() & w.isnan())) | nan_mismatch
    if not bool(bad.any()):
        return None
    diff = torch.where(bad, diff.nan_to_num(nan=float("inf")), torch.zeros_like(diff))
    worst = int(diff.flatten().argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), g.shape))
    first = [tuple(int(i) for i in row) for row in bad.nonzero()[:5]]
    return (
        f"{name}: {int(bad.sum())} of {bad.numel()} elements differ beyond atol={atol:g} "
        f"rtol={rtol:g} (shape {tuple(g.shape)}, {got.dtype} vs {want.dtype}); worst at "
        f"{index}: got {g[index].item():.8g}, want {w[index].item():.8g} "
        f"(|diff| {diff[index].item():.3g}, scale of want {w.abs().max().item():.3g}); "
        f"first: {first}"
    )


def _assert_close(
    got: torch.Tensor,
    want: torch.Tensor,
    atol: float | None = None,
    rtol: float | None = None,
    name: str = "",
) -> None:
    """Assert closeness; atol/rtol default to the tolerance of `want`'s dtype."""
    default_atol, default_rtol = DTYPE_TOL.get(want.dtype, ACCUM_TOL)
    report = describe_difference(
        got,
        want,
        default_atol if atol is None else atol,
        default_rtol if rtol is None else rtol,
        name,
    )
    assert report is None, report


@pytest.fixture
def assert_close() -> Callable[..., None]:
    """`assert_close(got, want, atol=None, rtol=None, name="")`, reporting where they differ."""
    return _assert_close


def triton_runnable(device: torch.device) -> bool:
    return dispatch.HAS_TRITON and (device.type == "cuda" or dispatch.interpreting())


@pytest.fixture
def device() -> torch.device:
    """Where the small grid runs: the GPU when there is one, else the CPU (interpreter)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.fixture
def triton_backend(device: torch.device) -> Iterator[None]:
    """Force the Triton path for the test (skipped where it cannot run)."""
    if not triton_runnable(device):
        pytest.skip("triton is not installed, or TRITON_INTERPRET is off on a CPU-only machine")
    with use_backend("triton"):
        yield


@pytest.fixture
def cuda() -> torch.device:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    return torch.device("cuda")


def randn(*shape: int, dtype: torch.dtype = torch.float32, device="cpu", seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen).to(device=device, dtype=dtype)


@pytest.fixture
def make_randn() -> Callable[..., torch.Tensor]:
    """Seeded `randn(*shape, dtype=, device=, seed=)`, generated on the CPU then moved."""
    return randn


# ----------------------------------------------------------------------------------------------
# Compiling for a Hopper GPU without one: the interpreter accepts code that the compiler rejects
# (and says nothing about registers), so the slow tests also compile each launch for sm_90.
# ----------------------------------------------------------------------------------------------


@dataclass
class CompiledLaunch:
    kernel: str
    grid: tuple[int, ...]
    constexprs: dict
    registers: int | None  # None where cuobjdump is not available
    spill_bytes: int | None
    ptx: str = field(repr=False)


def _resources(cubin: bytes) -> tuple[int | None, int | None]:
    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    if not tool.is_file():
        return None, None
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        out = subprocess.run(
            [str(tool), "--dump-resource-usage", f.name], capture_output=True, text=True
        ).stdout
    regs, stack = re.search(r"REG:(\d+)", out), re.search(r"STACK:(\d+)", out)
    return (int(regs.group(1)) if regs else None), (int(stack.group(1)) if stack else None)


def _gpu_native_dot(dtype: torch.dtype, k: int, device: torch.device) -> bool:
    from interp.kernels.tiles import DOT_MIN_K

    return k >= DOT_MIN_K and dtype in (torch.float16, torch.bfloat16)


@pytest.fixture
def compile_for_sm90(monkeypatch) -> Callable[[Callable[[], object]], list[CompiledLaunch]]:
    """`compile_for_sm90(fn)`: run `fn` with every kernel launch captured instead of run, then
    compile each launch for an H100 (sm_90) with the installed Triton; skip where it cannot."""
    if not dispatch.HAS_TRITON:
        pytest.skip("triton is not installed")
    try:
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource
        from triton.runtime.jit import JITFunction
    except ImportError as err:
        pytest.skip(f"this triton has no ASTSource/GPUTarget: {err}")

    def run(fn: Callable[[], object]) -> list[CompiledLaunch]:
        launches: list[tuple] = []

        def capture(self, grid):
            return lambda *args, **kwargs: launches.append((self, grid, args, kwargs))

        with monkeypatch.context() as m:
            m.setattr(dispatch.LazyKernel, "__getitem__", capture)
            for name in ("capture_reduce", "project", "steer_launch"):  # size grids for an H100
                module = importlib.import_module(f"interp.kernels.{name}")  # the module, not the
                m.setattr(module, "sm_count", lambda device: 132)  # function of the same name
                if hasattr(module, "native_dot"):  # a GPU's choice, which the interpreter's
                    m.setattr(module, "native_dot", _gpu_native_dot)  # is only for fp16
            with use_backend("triton"):
                fn()
        compiled = []
        for kernel, grid, args, kwargs in launches:
            signature, constants, attrs, options = launch_signature(kernel, args, kwargs)
            # A JITFunction whatever TRITON_INTERPRET says (triton.jit would interpret), calling
            # compiled device functions even where triton was imported for the interpreter.
            source = ASTSource(JITFunction(kernel.fn), signature, constants, attrs)
            try:
                with warnings.catch_warnings(), jit.compiled_device_functions():
                    # triton 3.9 announces a default change
                    warnings.filterwarnings("ignore", message=".*TRITON_DEFAULT_FP_FUSION")
                    out = triton.compile(source, target=GPUTarget("cuda", 90, 32), options=options)
            except (RuntimeError, FileNotFoundError) as err:
                if "ptxas" in str(err) or isinstance(err, FileNotFoundError):
                    pytest.skip(f"no CUDA toolchain for sm_90 here: {err}")
                raise
            regs, stack = _resources(out.asm["cubin"])
            compiled.append(
                CompiledLaunch(kernel.__name__, grid, constants, regs, stack, out.asm["ptx"])
            )
        assert compiled, "the call launched no kernel"
        return compiled

    return run
