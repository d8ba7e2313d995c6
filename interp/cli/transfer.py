"""`interp transfer`: the UNLOCK transfer study from a config file into a run directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from interp.cli.main import (
    add_command,
    add_study_load_arguments,
    add_study_run_arguments,
    print_json,
    progress_enabled,
    with_study_loading,
)
from interp.cli.ray_options import add_ray_arguments, executor_from


def register(commands) -> None:
    cmd = add_command(
        commands,
        "transfer",
        run_transfer_command,
        "the UNLOCK transfer study: a capability direction moved from a source model into a target",
        "Read a capability direction in the source (a prompt, model or few-shot contrast, on an "
        "organism skill or your own task file of {prompt, answer} lines), map it into the target "
        "through per-layer rank-k alignments fitted on shared texts (UNLOCK's locked prompts, or a "
        "broad set), choose N, rank, alpha, fit set and layer matching on selection items, and "
        "score once on held-out items beside the unsteered target, random directions of equal norm, "
        "the target given the unlocked condition and the source-unlocked model. Writes config.json, "
        "metrics.json, report.md, figures/ and the directions and maps into --out; each grid point "
        "is checkpointed, so a killed run continues with --resume. See examples/transfer_organisms.json "
        "and examples/transfer_real/.",
    )
    add_study_run_arguments(cmd, "study", resumable=True)
    add_study_load_arguments(
        cmd,
        engine_help='where the target generates (the config\'s "engine"); vllm: the grid and '
        "test scorings each as one batch of a vLLM engine (make setup-vllm)",
    )
    add_ray_arguments(cmd, "grid points")
    cmd.add_argument("--json", action="store_true", help="print metrics as JSON")


def run_transfer_command(args: argparse.Namespace) -> int:
    from interp.experiments.transfer import run_transfer
    from interp.experiments.transfer_config import TransferConfig

    config = with_study_loading(TransferConfig.from_file(args.config), args)
    executor = executor_from(args)
    result = run_transfer(
        config, Path(args.out), progress_enabled(), resume=args.resume, executor=executor
    )
    if args.json:
        print_json({k: v for k, v in result.to_json().items() if k != "grid"})
    else:
        lo, hi = result.gain_ci95
        print(
            f"target {result.target_unsteered_accuracy:.3f} -> {result.target_steered_accuracy:.3f} "
            f"(gain {result.gain:+.3f}, 95% CI {lo:+.3f} to {hi:+.3f}; random p95 "
            f"{result.random_control_gain_p95:+.3f})"
        )
        print(f"wrote {args.out}/report.md")
    return 0
