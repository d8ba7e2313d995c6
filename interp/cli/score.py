"""`interp score`: apply a saved probe to a model's prompts or transcripts.

    interp score organism:add-medium-m1 --probe runs/audit/probe.safetensors --data transcripts.jsonl
    interp score MODEL --probe probe.safetensors --data prompts.txt --positions last --out scores.jsonl

Each item scores the mean of the probe over its scored tokens (the same per-response score the
probe was calibrated on); with a calibrated threshold, the share of items above it is reported with
a 95% interval (Wilson). The probe is checked against the model first: another width, too few layers
or (unless --any-config) another model configuration is refused before any work.

Registered in `interp.cli.main` by `score.register(commands)`.
"""

from __future__ import annotations

import argparse
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
    """Add `interp score` to the subcommands."""
    cmd = add_command(
        commands,
        "score",
        run_score,
        "apply a saved probe to a model's prompts or transcripts",
        "Read the model at the probe's hook point and score every item by the mean probe score of "
        "its tokens (all of them, the last prompt token, or the response tokens of "
        '{"prompt", "response"} records). With a calibrated probe, report the share of items above '
        "its threshold with a 95% interval. The probe must fit the model: same width, "
        "enough layers and, unless --any-config, the configuration it was fitted on (use "
        "--any-config for a fine-tuned sibling of that model).",
    )
    add_model_arguments(cmd)
    cmd.add_argument("--probe", required=True, help="probe file (.safetensors) written by interp")
    cmd.add_argument(
        "--data",
        required=True,
        help='prompts (.txt, one per line) or JSON lines {"prompt", "response"?}',
    )
    cmd.add_argument(
        "--positions",
        choices=("auto", "all", "last", "response"),
        default="auto",
        help="tokens scored per item; auto: the response tokens when every item has a response, "
        "else all tokens",
    )
    cmd.add_argument(
        "--any-config",
        action="store_true",
        help="accept a model of the probe's width and depth whose configuration differs",
    )
    cmd.add_argument("--out", default=None, help="write one JSON line per item to this file")
    cmd.add_argument("--batch-size", type=int, default=8, help="prompts per forward pass")
    cmd.add_argument("--bootstrap", type=int, default=1000, help="resamples of the interval")
    cmd.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    cmd.add_argument("--json", action="store_true", help="print the summary as JSON")


def run_score(args: argparse.Namespace) -> int:
    """Check the files and the probe, load the model, then `interp.experiments.score`."""
    from interp.capture.items import read_items
    from interp.errors import InterpError
    from interp.experiments.score import score_positions, score_probe, write_scores
    from interp.probes import LinearProbe

    if args.out is not None and Path(args.out).is_dir():
        raise InterpError(f"--out {args.out} is a directory", fix="name a .jsonl file")
    items = read_items(args.data)
    positions = score_positions(args.positions, items)
    probe = LinearProbe.load(args.probe)
    model = load_model_from_args(args)
    scored = score_probe(
        model,
        probe,
        items,
        positions=positions,
        any_config=args.any_config,
        batch_size=args.batch_size,
        n_boot=args.bootstrap,
        seed=args.seed,
        progress=progress_enabled(),
    )
    summary = scored.summary()
    summary.update({"model": args.model, "probe": args.probe, "data": args.data})
    if args.out is not None:
        write_scores(args.out, items, scored)
        summary["out"] = args.out
    if args.json:
        print_json(summary)
    else:
        print(format_summary(summary))
    return 0


def format_summary(summary: dict[str, Any]) -> str:
    lines = [
        f"{summary['n_scored']} of {summary['n_items']} items scored at {summary['hook']} "
        f"({summary['positions']} tokens)"
        + (f"; {summary['n_empty']} had no tokens to score" if summary["n_empty"] else "")
    ]
    if summary["mean_score"] is not None:
        low, high = summary["mean_score_ci95"]
        lines.append(f"mean score {summary['mean_score']:.3f} (95% CI {low:.3f} to {high:.3f})")
    if summary["flag_share"] is not None:
        low, high = summary["flag_share_ci95"]
        fpr = summary["threshold_fpr"]
        at = f", calibrated for {fpr:.1%} false positives" if fpr is not None else ""
        lines.append(
            f"above the threshold {summary['threshold']:.3f}{at}: {summary['flag_share']:.3f} "
            f"of items (95% CI {low:.3f} to {high:.3f})"
        )
    elif summary["threshold"] is None:
        lines.append("the probe has no threshold (calibrate it with interp probe --calibrate)")
    if "out" in summary:
        lines.append(f"wrote {summary['out']}")
    return "\n".join(lines)
