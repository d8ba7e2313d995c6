"""Fused steering updates (steer_add, steer_ablate, steer_clamp, steer_rotate) at selected
positions, out of place, Triton vs torch eager vs torch.compile, against measured copy bandwidth.

    python benchmarks/bench_steer_update.py              # full sizes (64 to 8192 tokens x 4096), 3 dtypes
    python benchmarks/bench_steer_update.py --quick      # small and short (on a CPU: the reference only)
    python benchmarks/bench_steer_update.py --help       # every option (sizes, dtypes, ks, providers, CSV)

Rows are appended to benchmarks/results.csv (or --csv PATH); `python benchmarks/plot.py` draws
them. Works from a plain checkout without interp installed: see `load_bench`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared loader beside these scripts
from _kernels import load_bench  # noqa: E402

OPS = ["steer_update"]


def main(argv: list[str] | None = None) -> int:
    bench = load_bench()
    return bench.main(
        argv, prog=Path(__file__).name, description=__doc__.split("\n\n")[0], default_ops=OPS
    )


if __name__ == "__main__":
    sys.exit(main())
