"""`interp probe-transfer`: a probe trained on one model, carried into another through an alignment
map, from a config file into a run directory.

    interp probe-transfer --config examples/truth_probe/config.json --out runs/truth-probe
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from interp.cli.main import (
    add_command,
    add_study_load_arguments,
    add_study_run_arguments,
    print_json,
    progress_enabled,
    with_study_loading,
)


def register(commands: Any) -> None:
    """Add `interp probe-transfer` to the subcommands."""
    cmd = add_command(
        commands,
        "probe-transfer",
        run_probe_transfer_command,
        "a linear probe trained on one model, carried into another through an alignment map",
        "Split labelled statements by group (no entity in both training and test), read both "
        "models at every statement's last token, and per layer cross-validate a logistic probe on "
        "the training statements (folds by group, shuffled-label null, activation norm) and test "
        "it on held-out entities. Then, both ways, carry the source's probe into the target by "
        "pulling its weights back through a map from the target's activations into the source's "
        "(UNLOCK rank-k, ridge, ...; layer and map chosen on training statements without the "
        "target's labels) and score it once on held-out entities beside the target's own probe, "
        "random maps of equal shape and norm, shuffled-label probes and chance. Writes "
        "config.json, metrics.json, report.md, the carried probes and their maps into --out. See "
        "examples/truth_probe/.",
    )
    add_study_run_arguments(cmd)
    cmd.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's); the sweep is many small fits, and on a busy "
        "machine 1 thread can be several times faster",
    )
    add_study_load_arguments(cmd)
    cmd.add_argument("--json", action="store_true", help="print the metrics as JSON")


def run_probe_transfer_command(args: argparse.Namespace) -> int:
    import json

    from interp.experiments.probe_transfer import run_probe_transfer
    from interp.experiments.probe_transfer_config import ProbeTransferConfig
    from interp.reports.probe_transfer_report import transfer_table

    config = with_study_loading(ProbeTransferConfig.from_file(args.config), args)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    result = run_probe_transfer(config, Path(args.out), progress=progress_enabled())
    if args.json:
        print_json(result.to_json())
        return 0
    for m in result.models:
        b = m.best
        print(
            f"{m.name}: layer {m.best_layer} chosen, CV AUROC {b.cv.text()} (best-layer null p95 "
            f"{m.null_max_p95:.3f}), held-out entities {b.heldout.text()}"
        )
    print(transfer_table(result))
    print(f"wrote {args.out}/report.md")
    print(json.dumps(result.summary()))
    return 0
