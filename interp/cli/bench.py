"""`interp bench kernels`: the kernel benchmark harness of a checkout (`benchmarks/kernel_harness.py`).

The harness is not part of the installed package: it lives with the benchmark scripts in the
repository's `benchmarks/` folder. This command finds it in the checkout that interp runs from
(an editable install), else in the current directory's `benchmarks/`, and says how to get one
when there is neither.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from interp.cli.main import add_command
from interp.errors import InterpError

HARNESS = Path("benchmarks") / "kernel_harness.py"
PROG = "interp bench kernels"


def register(commands) -> None:
    bench = add_command(
        commands,
        "bench",
        run_bench,
        "benchmark the kernels (Triton vs native torch eager and torch.compile) against copy "
        "bandwidth",
        "Benchmark a suite. `interp bench kernels [ARGS]` passes ARGS to the kernel harness of a "
        "checkout (benchmarks/kernel_harness.py); `interp bench kernels --help` lists them.",
    )
    bench.add_argument("suite", choices=("kernels",), help="what to benchmark")
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the suite")


def harness_candidates() -> list[Path]:
    """Where the harness may be: the checkout interp is imported from, then the current folder."""
    import interp

    checkout = Path(interp.__file__).resolve().parents[1]
    return [checkout / HARNESS, Path.cwd() / HARNESS]


def find_harness() -> Path:
    candidates = harness_candidates()
    for path in candidates:
        if path.is_file():
            return path
    raise InterpError(
        f"the kernel benchmarks live in a checkout's {HARNESS.as_posix()}, and none is here "
        f"(looked in {' and '.join(str(p.parent.parent) for p in candidates)})",
        fix="run the command from a clone of the interp repository (or install interp from it "
        "with `pip install -e .`), or run `python benchmarks/bench_project.py` there",
    )


def load_harness(path: Path) -> ModuleType:
    name = "interp_kernel_harness"
    module = sys.modules.get(name)
    if module is not None and Path(module.__file__ or "") == path:
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_bench(args: argparse.Namespace) -> int:
    harness = load_harness(find_harness())
    description = "Benchmark the kernels: " + (harness.__doc__ or "").split("\n\n")[0]
    try:
        return harness.main(args.rest, prog=PROG, description=description)
    except ValueError as err:  # a bad size, op or provider: the harness says which
        raise InterpError(str(err), fix=f"see `{PROG} --help`") from err
