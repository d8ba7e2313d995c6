"""`interp demo`: the embedded default job, offline, on a CPU in seconds."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from interp.cli.main import add_command, print_json, progress_enabled


def register(commands) -> None:
    demo = add_command(
        commands,
        "demo",
        run_demo_command,
        "run the whole pipeline on an embedded tiny model (no downloads) and write a run directory",
    )
    demo.add_argument("--out", default=None, help="run directory (default: runs/demo-<time>)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the tiny model and the controls")
    demo.add_argument("--json", action="store_true", help="print the metrics as JSON")


def run_demo_command(args: argparse.Namespace) -> int:
    from interp.experiments.demo import DemoConfig, run_demo

    out = Path(args.out or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}")
    metrics = run_demo(out, DemoConfig(seed=args.seed), progress=progress_enabled())
    if args.json:
        print_json({"out": str(out), **metrics})
    else:
        print(
            f"projection shift {metrics['projection_shift']:.4f} vs random p95 {metrics['random_control_shift_p95']:.4f}; KL {metrics['kl_neutral']:.4f}"
        )
        print(f"wrote {out}/report.md")
    return 0
