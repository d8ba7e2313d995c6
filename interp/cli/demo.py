"""`interp demo`: the embedded default job, offline, on a CPU in a couple of minutes."""

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
        "a small transfer study and a small sandbagging audit on the shipped organism zoo "
        "(no downloads); writes a run directory",
        "Carry the step-by-step direction of the medium organism into the large one (UNLOCK), choose "
        "N, rank and alpha on training items and score once on held-out items beside random "
        "directions of equal norm; then audit four organisms for sandbagging (probe, noise "
        "injection, elicitation) and score the verdicts against the zoo's answer key. Writes "
        "report.md, metrics.json, transfer/ and audit/ into --out.",
    )
    demo.add_argument("--out", default=None, help="run directory (default: runs/demo-<time>)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the items and the controls")
    demo.add_argument("--json", action="store_true", help="print the headline metrics as JSON")


def run_demo_command(args: argparse.Namespace) -> int:
    from interp.experiments.demo import run_demo

    out = Path(args.out or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}")
    demo = run_demo(out, seed=args.seed, progress=progress_enabled())
    transfer, audit = demo.transfer.to_json(), demo.audit.to_json()
    if args.json:
        print_json(
            {
                "out": str(out),
                "transfer": {k: v for k, v in transfer.items() if k != "grid"},
                "audit": {k: audit[k] for k in ("verdicts", "score") if k in audit},
            }
        )
        return 0
    lo, hi = transfer["gain_ci95"]
    print(
        f"transfer: target accuracy {transfer['target_unsteered_accuracy']:.3f} -> "
        f"{transfer['target_steered_accuracy']:.3f} (gain {transfer['gain']:+.3f}, 95% CI "
        f"{lo:+.3f} to {hi:+.3f}; random directions p95 {transfer['random_control_gain_p95']:+.3f})"
    )
    from interp.cli.audit import verdict_table

    print(verdict_table(demo.audit))
    if demo.audit.score is not None:
        print(f"audit score: {demo.audit.score.describe()}")
    print(f"wrote {out}/report.md")
    return 0
