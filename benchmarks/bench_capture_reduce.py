"""Fused capture (capture_reduce): per-label sums, counts and squared projections of selected
rows in one pass, Triton against native torch eager and torch.compile, against measured copy
bandwidth.

    python benchmarks/bench_capture_reduce.py              # decode to prefill sizes (1 to 8192 tokens x 4096), bf16
    python benchmarks/bench_capture_reduce.py --quick      # small and short (on a CPU: torch only)
    python benchmarks/bench_capture_reduce.py --help       # every option (sizes, dtypes, ks, variants, providers)

Rows go to a new run directory under runs/ (or --out DIR, or --csv FILE); `python
benchmarks/plot.py --csv FILE` draws them. The harness is `kernel_harness.py` beside this file.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the harness beside these scripts
from kernel_harness import main as harness_main  # noqa: E402

OPS = ["capture_reduce"]


def main(argv: list[str] | None = None) -> int:
    return harness_main(
        argv, prog=Path(__file__).name, description=__doc__.split("\n\n")[0], default_ops=OPS
    )


if __name__ == "__main__":
    sys.exit(main())
