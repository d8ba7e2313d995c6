"""`interp bench kernels`: the kernel benchmark harness of `interp.kernels.bench`."""

from __future__ import annotations

import argparse

from interp.cli.main import add_command


def register(commands) -> None:
    bench = add_command(
        commands,
        "bench",
        run_bench,
        "benchmark the kernels (Triton vs torch eager vs torch.compile) against copy bandwidth",
        "Benchmark a suite. `interp bench kernels [ARGS]` passes ARGS to the kernel harness; "
        "`interp bench kernels --help` lists them.",
    )
    bench.add_argument("suite", choices=("kernels",), help="what to benchmark")
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the suite")


def run_bench(args: argparse.Namespace) -> int:
    from interp.kernels.bench import main as kernels_main

    return kernels_main(args.rest)
