"""`interp probe`: a per-layer linear-probe sweep with its controls, and optionally one saved probe.

    interp probe MODEL --data labelled.jsonl --out runs/probe
    interp probe MODEL --data labelled.jsonl --out runs/probe --layer 3 --save-probe probe.safetensors \\
        --calibrate benign.jsonl --fpr 0.01

Registered in `interp.cli.main` by `probe.register(commands)`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from interp.cli.main import (
    add_command,
    add_model_arguments,
    load_model_from_args,
    print_json,
    progress_enabled,
)


def register(commands: Any) -> None:
    """Add `interp probe` to the subcommands."""
    cmd = add_command(
        commands,
        "probe",
        run_probe,
        "cross-validated linear probes at every layer, beside shuffled-label and norm controls",
        "Capture every layer once, then per layer: a logistic probe (standardized, L2 with C, no "
        "intercept) and the difference-of-class-means baseline, cross-validated with folds split by "
        "prompt; a response scores the mean of its token scores; AUROC with a bootstrap interval, a "
        "shuffled-label permutation null, and the AUROC of the activation norm alone. Writes a run "
        "directory (config.json, metrics.json, report.md, figures/). With --save-probe, also fits "
        "one probe on all the data at --layer (default: the best layer) and saves it; with "
        "--calibrate, its threshold flags --fpr of the control responses.",
    )
    add_model_arguments(cmd)
    cmd.add_argument(
        "--data",
        required=True,
        help='JSON lines {"prompt", "label", "response"?}; label 0/1 or one of two strings',
    )
    cmd.add_argument("--out", required=True, help="run directory to write (new or empty)")
    cmd.add_argument("--hook", default="resid_post", help="hook kind read at every layer")
    cmd.add_argument(
        "--positions",
        choices=("all", "last", "response"),
        default="all",
        help="tokens scored per item (response: the tokens after the prompt)",
    )
    cmd.add_argument("--C", type=float, default=0.1, help="inverse L2 strength of the probe")
    cmd.add_argument("--folds", type=int, default=5, help="cross-validation folds (by prompt)")
    cmd.add_argument("--permutations", type=int, default=50, help="shuffled-label reruns (null)")
    cmd.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples per interval")
    cmd.add_argument("--seed", type=int, default=0, help="seed of folds, shuffles and resamples")
    cmd.add_argument("--batch-size", type=int, default=8, help="prompts per forward pass")
    cmd.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's); the sweep is many small fits, and on a busy "
        "machine 1 thread can be several times faster",
    )
    cmd.add_argument(
        "--layer",
        type=int,
        default=None,
        help="layer of the saved probe (negative counts from the end; default: best in the sweep)",
    )
    cmd.add_argument("--save-probe", default=None, help="probe file to write (.safetensors)")
    cmd.add_argument(
        "--calibrate",
        default=None,
        metavar="CONTROL_FILE",
        help="benign control prompts (.txt or .jsonl) whose per-response scores set the threshold",
    )
    cmd.add_argument(
        "--fpr", type=float, default=0.01, help="false-positive rate of the threshold on controls"
    )
    cmd.add_argument(
        "--from-store",
        default=None,
        metavar="DIR",
        help="read the activations from a store `interp capture` wrote for --data with this model "
        "(--hooks HOOK --positions POSITIONS --out DIR) instead of running the model over it",
    )
    cmd.add_argument("--json", action="store_true", help="print the metrics as JSON")


def run_probe(args: argparse.Namespace) -> int:
    """Parse, then `interp.experiments.probe.run_probe`; print the table or the metrics."""
    from interp.experiments.probe import ProbeConfig
    from interp.experiments.probe import run_probe as run_probe_study
    from interp.experiments.probe_sweep import SweepSettings
    from interp.reports.probe_report import format_table

    settings = SweepSettings(
        args.hook, args.positions, args.C, args.folds, args.seed, args.permutations,
        args.bootstrap, args.batch_size,
    )  # fmt: skip
    config = ProbeConfig(
        data=args.data,
        out=args.out,
        settings=settings,
        layer=args.layer,
        save_probe=args.save_probe,
        calibrate=args.calibrate,
        fpr=args.fpr,
        from_store=args.from_store,
    )
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    result = run_probe_study(config, lambda: load_model_from_args(args), progress_enabled())
    if result.saved is not None and result.saved.probe.warning:
        print(f"interp: warning: {result.saved.probe.warning}", file=sys.stderr)
    metrics = result.metrics()
    if args.json:
        print_json(metrics)
    else:
        print(format_table(metrics))
        best = result.best
        print(
            f"best layer {best['layer']}: AUROC {best['auroc']:.3f} "
            f"[{best['auroc_low']:.3f}, {best['auroc_high']:.3f}] vs best-layer null p95 "
            f"{best['null_max_p95']:.3f}; wrote {args.out}"
            + (f" and {args.save_probe}" if result.saved is not None else "")
        )
    return 0
