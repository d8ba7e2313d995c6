"""`interp demo`: the embedded default job, offline, on a CPU in under a minute."""

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
        "a small transfer study on the shipped organism zoo (no downloads); writes a run directory",
        "Carry the step-by-step direction of the medium organism into the large one (UNLOCK), choose "
        "N, rank and alpha on training items, score once on held-out items beside random directions "
        "of equal norm, and write config.json, metrics.json, report.md and figures/ into --out.",
    )
    demo.add_argument("--out", default=None, help="run directory (default: runs/demo-<time>)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the items and the controls")
    demo.add_argument("--json", action="store_true", help="print the metrics as JSON")


def run_demo_command(args: argparse.Namespace) -> int:
    from interp.experiments.demo import run_demo

    out = Path(args.out or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}")
    metrics = run_demo(out, seed=args.seed, progress=progress_enabled())
    if args.json:
        print_json({"out": str(out), **{k: v for k, v in metrics.items() if k != "grid"}})
    else:
        lo, hi = metrics["gain_ci95"]
        print(
            f"target accuracy {metrics['target_unsteered_accuracy']:.3f} -> {metrics['target_steered_accuracy']:.3f} "
            f"(gain {metrics['gain']:+.3f}, 95% CI {lo:+.3f} to {hi:+.3f}; random directions p95 {metrics['random_control_gain_p95']:+.3f})"
        )
        print(f"wrote {out}/report.md")
    return 0
