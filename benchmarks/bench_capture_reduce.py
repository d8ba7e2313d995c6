"""Fused capture (capture_reduce): per-label sums, counts and squared projections of selected
rows in one pass, Triton vs torch eager vs torch.compile, against measured copy bandwidth.

    python benchmarks/bench_capture_reduce.py              # full sizes (64 to 8192 tokens x 4096), 3 dtypes
    python benchmarks/bench_capture_reduce.py --quick      # small and short (on a CPU: the reference only)
    python benchmarks/bench_capture_reduce.py --help       # every option (sizes, dtypes, ks, providers, CSV)

Rows are appended to benchmarks/results.csv (or --csv PATH); `python benchmarks/plot.py` draws
them. Works from a plain checkout without interp installed: see `load_bench`.
"""

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

OPS = ["capture_reduce"]


def load_bench() -> ModuleType:
    """`interp.kernels.bench` when interp is installed; else the checkout's `kernels/` folder,
    loaded by path under a private package name (its modules import each other relatively).
    INTERP_BENCH_FROM_PATH=1 forces the second way."""
    if not os.environ.get("INTERP_BENCH_FROM_PATH"):
        try:
            return importlib.import_module("interp.kernels.bench")
        except ImportError:
            pass
    name, folder = "_interp_kernels", Path(__file__).resolve().parents[1] / "kernels"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{name}.bench")


def main(argv: list[str] | None = None) -> int:
    bench = load_bench()
    return bench.main(
        argv, prog=Path(__file__).name, description=__doc__.split("\n\n")[0], default_ops=OPS
    )


if __name__ == "__main__":
    sys.exit(main())
