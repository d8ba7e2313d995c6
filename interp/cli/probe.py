"""`interp probe`: a per-layer linear-probe sweep with its controls, and optionally one saved probe.

    interp probe MODEL --data labelled.jsonl --out runs/probe
    interp probe MODEL --data labelled.jsonl --out runs/probe --layer 3 --save-probe probe.safetensors \\
        --calibrate benign.jsonl --fpr 0.01

Registered in `interp.cli.main` by `probe.register(commands)`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
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
    cmd.add_argument("--json", action="store_true", help="print the metrics as JSON")


def run_probe(args: argparse.Namespace) -> int:
    """Check everything, capture, sweep, fit; write only once every step has succeeded."""
    from interp.capture.items import read_items
    from interp.experiments.probe_sweep import (
        SweepSettings,
        binary_labels,
        capture_layers,
        check_fold_sizes,
        check_out_dir,
        describe_data,
        format_table,
        sweep_layers,
        write_run,
    )

    _check_probe_options(args)
    settings = SweepSettings(
        args.hook, args.positions, args.C, args.folds, args.seed, args.permutations,
        args.bootstrap, args.batch_size,
    )  # fmt: skip
    settings.check()
    data = binary_labels(read_items(args.data))
    check_fold_sizes(data.labels, settings.folds)
    controls = read_items(args.calibrate) if args.calibrate else None
    if controls is not None:
        from interp.probes.calibrate import check_control_count

        check_control_count(len(controls), args.fpr)  # before the sweep, not after it
    check_out_dir(args.out)

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model = load_model_from_args(args)
    layer = _resolve_layer(args.layer, model.n_layers)
    rows = capture_layers(model, data.items, settings, progress_enabled())
    metrics = {
        "config": {**describe_data(model, data, settings), "data": args.data},
        **sweep_layers(rows, data.labels, settings),
    }
    probe = None
    if args.save_probe:
        layer = metrics["best"]["layer"] if layer is None else layer
        probe = _final_probe(model, rows, data, settings, layer, metrics["config"]["dataset_hash"])
        warning = _below_control(metrics["layers"], layer)
        if warning:
            probe = dataclasses.replace(probe, warning=warning)
            print(f"interp: warning: {warning}", file=sys.stderr)
        if controls is not None:
            probe = _calibrated(model, probe, controls, settings, args.fpr)
        metrics["probe"] = _describe_probe(probe, args.save_probe, args.calibrate)

    write_run(Path(args.out), metrics)
    if probe is not None:
        probe.save(args.save_probe)
    if args.json:
        print_json(metrics)
    else:
        print(format_table(metrics))
        best = metrics["best"]
        print(
            f"best layer {best['layer']}: AUROC {best['auroc']:.3f} "
            f"[{best['auroc_low']:.3f}, {best['auroc_high']:.3f}] vs best-layer null p95 "
            f"{best['null_max_p95']:.3f}; wrote {args.out}"
            + (f" and {args.save_probe}" if probe is not None else "")
        )
    return 0


def _check_probe_options(args: argparse.Namespace) -> None:
    """Options that only make sense together, and output paths, refused before any work."""
    from interp.errors import InterpError

    if args.save_probe is None and (args.layer is not None or args.calibrate is not None):
        raise InterpError(
            "--layer and --calibrate choose and calibrate the saved probe, but no --save-probe "
            "was given",
            fix="add --save-probe FILE.safetensors",
        )
    if args.save_probe is not None and Path(args.save_probe).is_dir():
        raise InterpError(f"--save-probe {args.save_probe} is a directory", fix="name a file")
    if not 0 < args.fpr < 1:
        raise InterpError(f"--fpr must lie in (0, 1), got {args.fpr}", fix="use e.g. 0.01")


def _resolve_layer(layer: int | None, n_layers: int) -> int | None:
    from interp.errors import InterpError

    if layer is None:
        return None
    if not -n_layers <= layer < n_layers:
        raise InterpError(
            f"layer {layer} is out of range for a model of {n_layers} layers",
            fix=f"use a layer from {-n_layers} to {n_layers - 1}",
        )
    return layer % n_layers


def _final_probe(model, rows, data, settings, layer: int, data_hash: str):
    """The logistic probe at `layer` fitted on every prompt (the sweep's numbers are its estimate)."""
    from interp.probes import fit_logistic_probe

    hook = rows.hooks[layer]
    return fit_logistic_probe(
        rows.rows[hook],
        data.labels,
        rows.prompt_index,
        settings.C,
        model=model,
        hook=hook,
        dataset_hash=data_hash,
    )


def _calibrated(model, probe, controls, settings, fpr: float):
    """The probe with a threshold from per-response scores of the control prompts."""
    from interp.capture.run import capture
    from interp.probes import calibrate_probe

    got = capture(
        model,
        controls,
        probe.hook,
        positions=settings.positions,
        batch_size=settings.batch_size,
        progress=progress_enabled(),
    )
    return calibrate_probe(probe, got.activations[probe.hook], got.prompt_index, fpr=fpr)


def _below_control(table: list[dict[str, Any]], layer: int) -> str:
    """A warning when the saved layer's cross-validated AUROC does not beat its shuffled-label
    control (the 95th percentile of the permutation null), else ""."""
    row = next(r for r in table if r["layer"] == layer)
    if row["auroc"] >= row["null_p95"]:
        return ""
    return (
        f"layer {layer}'s cross-validated AUROC {row['auroc']:.3f} is below its shuffled-label "
        f"control ({row['null_p95']:.3f} at the 95th percentile): the saved probe may read nothing"
    )


def _describe_probe(probe, path: str, control_file: str | None) -> dict[str, Any]:
    return {
        "warning": probe.warning or None,
        "path": path,
        "hook": probe.hook,
        "layer": probe.layer,
        "method": probe.method,
        "C": probe.C,
        "threshold": probe.threshold,
        "threshold_fpr": probe.threshold_fpr,
        "n_control": probe.n_control,
        "control_file": control_file,
    }
