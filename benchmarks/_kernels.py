"""Find the kernel benchmark harness for the scripts beside this file."""

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType


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
