"""What the kernels compile to on a Hopper GPU (sm_90), without one: a table per kernel and config.

    python benchmarks/compile_report.py              # every case (D = 4096, bf16 unless named)
    python benchmarks/compile_report.py --markdown   # the same as a markdown table (the README's)

Each case calls a public kernel function with the launches captured instead of run (grids sized
for 132 SMs, the paths a GPU would take), compiles every launch with the installed Triton for
`GPUTarget("cuda", 90, 32)` (ptxas from the triton wheel), and reads the SASS with the wheel's
`cuobjdump`. Columns: registers per thread, spilled bytes (stack and local memory), the matrix
instructions (`wgmma` = HGMMA, `mma.sync` = HMMA), the global loads by width in bits (LDGSTS is
an asynchronous 16-byte copy into shared memory, as Triton's software pipeline issues them;
`async` counts those alone), and the global atomics. These are compile facts, not timings: speed
waits for a GPU. The persistent grids (`steer_persistent`, `capture_columns` with
`capture_square`) are listed beside the per-block grids they replace (cases named "per-block").
"""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # capture launches on CPU tensors, compile them

import argparse  # noqa: E402
import importlib  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import ExitStack, contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402
from unittest import mock  # noqa: E402

import torch  # noqa: E402

H100_SMS = 132
D_MODEL = 4096
PREFILL = (4, 2048)  # four sequences of 2048 tokens: 8192 rows
DECODE = (64, 1)  # one new token in each of 64 sequences

# The kernels of the persistent grids (programs that loop over row blocks).
PERSISTENT_KERNELS = frozenset({"steer_persistent", "capture_columns", "capture_square"})


@dataclass
class CompiledLaunch:
    """One kernel launch compiled for sm_90, and what its SASS holds."""

    case: str
    kernel: str
    grid: tuple[int, ...]
    constexprs: dict
    registers: int
    spill_bytes: int  # stack + local memory per thread: 0 means no spills
    wgmma: int  # HGMMA instructions
    mma_sync: int  # HMMA instructions
    loads: Counter = field(default_factory=Counter)  # global load width in bits -> count
    atomics: int = 0  # global reductions / atomics in the code (not executions)
    async_copies: int = 0  # LDGSTS: loads the software pipeline issues ahead
    ptx: str = field(default="", repr=False)

    @property
    def matrix(self) -> str:
        if self.wgmma:
            return f"wgmma x{self.wgmma}"
        return f"mma.sync x{self.mma_sync}" if self.mma_sync else "-"

    @property
    def load_widths(self) -> str:
        return " ".join(f"{w}b:{n}" for w, n in sorted(self.loads.items(), reverse=True)) or "-"

    @property
    def tile(self) -> str:
        keys = ("BLOCK_T", "BLOCK_N", "BLOCK_D", "K_PAD")
        return "x".join(str(self.constexprs[k]) for k in keys if k in self.constexprs)

    @property
    def path(self) -> str:
        flags = ("NATIVE_DOT", "USE_DOT", "SPLIT_V", "ONE_PASS", "FROM_STATS", "INPLACE")
        on = [f.lower() for f in flags if self.constexprs.get(f)]
        if not self.constexprs.get("USE_DOT") and "split_v" in on:
            on.remove("split_v")  # only a tl.dot splits V
        if self.kernel == "capture_columns":  # always the 16-bit tl.dot
            on.insert(0, "native_dot")
        if self.kernel in PERSISTENT_KERNELS:
            on.append("persistent")
        return ",".join(on) or "fma"


def _tool(name: str) -> Path:
    import triton

    return Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / name


def _sass_facts(cubin: bytes) -> tuple[int, int, str]:
    """(registers, spilled bytes, SASS text) of a cubin, read with the wheel's cuobjdump."""
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        usage = subprocess.run(
            [str(_tool("cuobjdump")), "--dump-resource-usage", f.name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        sass = subprocess.run(
            [str(_tool("cuobjdump")), "-sass", f.name], capture_output=True, text=True, check=True
        ).stdout

    def field_of(name: str) -> int:
        found = re.search(rf"\b{name}:(\d+)", usage)
        return int(found.group(1)) if found else 0

    return field_of("REG"), field_of("STACK") + field_of("LOCAL"), sass


_LOAD = re.compile(r"\b(LDGSTS|LDG)((?:\.[A-Z0-9]+)*)")
_WIDTHS = {"U8": 8, "S8": 8, "U16": 16, "S16": 16, "64": 64, "128": 128}


def _load_widths(sass: str) -> Counter:
    widths: Counter = Counter()
    for _, suffix in _LOAD.findall(sass):
        parts = suffix.strip(".").split(".")
        width = next((_WIDTHS[p] for p in parts if p in _WIDTHS), 32)
        widths[width] += 1
    return widths


@contextmanager
def _captured_launches() -> Iterator[list[tuple]]:
    """Kernel launches recorded instead of run, with a GPU's choices: 132 SMs, and the 16-bit
    `tl.dot` path the interpreter only takes for fp16."""
    from interp.kernels import dispatch, use_backend
    from interp.kernels.tiles import DOT_MIN_K

    launches: list[tuple] = []

    def capture(self, grid):
        return lambda *args, **kwargs: launches.append((self, grid, args, kwargs))

    def gpu_native_dot(dtype, k, device):
        return k >= DOT_MIN_K and dtype in (torch.float16, torch.bfloat16)

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(dispatch.LazyKernel, "__getitem__", capture))
        for name in ("capture_reduce", "project", "steer_launch"):
            module = importlib.import_module(f"interp.kernels.{name}")
            stack.enter_context(mock.patch.object(module, "sm_count", lambda device: H100_SMS))
            if hasattr(module, "native_dot"):
                stack.enter_context(mock.patch.object(module, "native_dot", gpu_native_dot))
        stack.enter_context(use_backend("triton"))
        yield launches


def compile_for_sm90(case: str, call: Callable[[], object]) -> list[CompiledLaunch]:
    """Every launch `call` makes, compiled for sm_90 (raises where no toolchain is installed)."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from triton.runtime.jit import JITFunction

    from interp.kernels import jit
    from interp.kernels.launch_signature import launch_signature

    with _captured_launches() as launches:
        call()
    compiled = []
    for kernel, grid, args, kwargs in launches:
        signature, constants, attrs, options = launch_signature(kernel, args, kwargs)
        # A JITFunction whatever TRITON_INTERPRET says, with compiled device functions.
        source = ASTSource(JITFunction(kernel.fn), signature, constants, attrs)
        with warnings.catch_warnings(), jit.compiled_device_functions():
            warnings.filterwarnings("ignore", message=".*TRITON_DEFAULT_FP_FUSION")
            out = triton.compile(source, target=GPUTarget("cuda", 90, 32), options=options)
        registers, spills, sass = _sass_facts(out.asm["cubin"])
        compiled.append(
            CompiledLaunch(
                case=case,
                kernel=kernel.__name__.strip("_").removesuffix("_kernel"),
                grid=tuple(grid),
                constexprs=constants,
                registers=registers,
                spill_bytes=spills,
                wgmma=len(re.findall(r"\bHGMMA\.", sass)),
                mma_sync=len(re.findall(r"\bHMMA\.", sass)),
                loads=_load_widths(sass),
                atomics=len(re.findall(r"\b(?:RED|ATOM)G?\.", sass)),
                async_copies=len(re.findall(r"\bLDGSTS\b", sass)),
                ptx=out.asm["ptx"],
            )
        )
    return compiled


# ----------------------------------------------------------------------------------------------
# The cases: each op at prefill (8192 x 4096) and decode (64 x 4096) sizes
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    call: Callable[[], object]
    wgmma_expected: bool  # a tl.dot on tiles of at least 64 rows per warpgroup


def _h(shape: tuple[int, int], dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    return torch.empty(*shape, D_MODEL, dtype=dtype)


def _on_fresh_h(fn: Callable[..., object], shape: tuple[int, int], dtype: torch.dtype, *args):
    """A case's call: `fn` on a new (empty) activation, made only when the case compiles."""
    return partial(lambda *a: fn(_h(shape, dtype), *a), *args)


def cases() -> list[Case]:
    from interp import kernels

    bf16 = torch.bfloat16
    found: list[Case] = []
    labels = torch.zeros(PREFILL[0], dtype=torch.long)
    mask = torch.ones(*PREFILL, dtype=torch.bool)
    last = torch.full((PREFILL[0],), PREFILL[1] - 1)
    for dtype, dname in ((bf16, "bf16"), (torch.float32, "fp32")):
        for k in (0, 4, 8, 16):
            if dtype == torch.float32 and k not in (0, 16):
                continue
            dirs = torch.randn(k, D_MODEL) if k else None
            call = _on_fresh_h(kernels.capture_reduce, PREFILL, dtype, mask, labels, 2, dirs)
            found.append(
                Case(f"capture_reduce prefill {dname} k={k}", call, k >= 5 and dtype == bf16)
            )
    dirs = torch.randn(16, D_MODEL)
    call = _on_fresh_h(kernels.capture_reduce, PREFILL, bf16, last, labels, 2, dirs)
    found.append(Case("capture_reduce last bf16 k=16", call, True))
    call = _per_block(_on_fresh_h(kernels.capture_reduce, PREFILL, bf16, mask, labels, 2, dirs))
    found.append(Case("capture_reduce prefill bf16 k=16 per-block", call, True))
    for size, shape in (("prefill", PREFILL), ("decode", DECODE)):
        for k in (1, 4, 8, 16):  # 64-row tiles with tl.dot at both sizes
            call = _on_fresh_h(kernels.project, shape, bf16, torch.randn(D_MODEL, k))
            found.append(Case(f"project {size} bf16 k={k}", call, k >= 5))
    for size, shape in (("prefill", PREFILL), ("decode", DECODE)):
        select = torch.zeros(*shape, dtype=torch.bool)
        select[:, -1] = True
        v = torch.randn(D_MODEL)
        shift = partial(kernels.steer_shift, inplace=True)
        found.append(
            Case(f"steer_add {size} bf16 in place", _on_fresh_h(shift, shape, bf16, v), False)
        )
        rotate = partial(kernels.steer_rotate, inplace=True)
        call = _on_fresh_h(rotate, shape, bf16, v, 0.2, select)
        found.append(Case(f"steer_rotate {size} bf16 last token", call, False))
        ablate = partial(kernels.steer_ablate, inplace=True)
        for k in (1, 8, 16):
            call = _on_fresh_h(ablate, shape, bf16, torch.linalg.qr(torch.randn(D_MODEL, k))[0])
            found.append(Case(f"steer_ablate {size} bf16 k={k} in place", call, False))
        clamp = partial(kernels.steer_clamp, inplace=True)
        V = torch.linalg.qr(torch.randn(D_MODEL, 8))[0]
        call = _on_fresh_h(clamp, shape, bf16, V, torch.zeros(8))
        found.append(Case(f"steer_clamp {size} bf16 k=8 in place", call, False))
    V = torch.linalg.qr(torch.randn(D_MODEL, 16))[0]
    call = _on_fresh_h(kernels.steer_clamp, PREFILL, bf16, V, torch.zeros(16))
    found.append(Case("steer_clamp prefill bf16 k=16 out of place", call, False))
    ablate = partial(kernels.steer_ablate, inplace=True)
    call = _per_block(_on_fresh_h(ablate, PREFILL, bf16, V))
    found.append(Case("steer_ablate prefill bf16 k=16 in place per-block", call, False))
    return found


def _per_block(call: Callable[[], object]) -> Callable[[], object]:
    """`call` with the kernels on their grid of one program per row block."""
    from interp.kernels.grids import use_persistent_grids

    def run() -> object:
        with use_persistent_grids(False):
            return call()

    return run


def report(selected: list[Case] | None = None) -> list[tuple[Case, list[CompiledLaunch]]]:
    return [(case, compile_for_sm90(case.name, case.call)) for case in (selected or cases())]


HEADER = (
    "case", "kernel", "grid", "tile", "path", "regs", "spill B", "matrix", "loads", "async", "atom"
)  # fmt: skip
# Kernels with no matrix product to make (capture's second kernel squares and sums partials).
NO_MATRIX_KERNELS = frozenset({"capture_square"})


def rows(results: list[tuple[Case, list[CompiledLaunch]]]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for case, launches in results:
        for launch in launches:
            out.append(
                (
                    case.name,
                    launch.kernel,
                    "x".join(map(str, launch.grid)),
                    launch.tile,
                    launch.path,
                    str(launch.registers),
                    str(launch.spill_bytes),
                    launch.matrix,
                    launch.load_widths,
                    str(launch.async_copies),
                    str(launch.atomics),
                )
            )
    return out


def format_table(table: list[tuple[str, ...]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + " --- |" * len(HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in table]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [HEADER, *table]) for i in range(len(HEADER))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        for row in [HEADER, *table]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--only", default="", help="only cases whose name contains this")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    import triton

    chosen = [c for c in cases() if args.only in c.name]
    table = rows(report(chosen))
    print(f"sm_90 compile, triton {triton.__version__}, D = {D_MODEL}; prefill 8192, decode 64")
    print(format_table(table, args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
