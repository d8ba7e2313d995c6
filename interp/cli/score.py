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
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from interp.cli.main import (
    add_command,
    add_model_arguments,
    load_model_from_args,
    print_json,
    progress_enabled,
)

if TYPE_CHECKING:
    from interp.capture.batching import Positions


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
    """Check the files and the probe against the model, then capture, score and write."""
    from interp.capture.items import read_items
    from interp.capture.run import capture
    from interp.errors import InterpError
    from interp.probes import LinearProbe

    if args.out is not None and Path(args.out).is_dir():
        raise InterpError(f"--out {args.out} is a directory", fix="name a .jsonl file")
    items = read_items(args.data)
    positions = _positions(args.positions, items)
    probe = LinearProbe.load(args.probe)
    model = load_model_from_args(args)
    try:
        probe.check_model(model, strict=not args.any_config)
    except InterpError as err:
        fix = err.fix
        if not args.any_config and "config hash" in err.problem:
            fix = "score the model it was fitted on, or add --any-config for a fine-tuned sibling"
        raise InterpError(err.problem, fix=fix) from err

    hook = str(probe.hook)  # a loaded probe always names its hook
    got = capture(
        model,
        items,
        hook,
        positions=positions,
        batch_size=args.batch_size,
        progress=progress_enabled(),
    )
    assert got.prompt_index is not None
    scores = probe.score_responses(got.activations[hook].float(), got.prompt_index, len(items))
    summary = summarize(probe, scores, n_boot=args.bootstrap, seed=args.seed)
    summary.update({"model": args.model, "probe": args.probe, "data": args.data})
    summary["positions"] = positions
    if args.out is not None:
        _write_scores(Path(args.out), items, scores, probe)
        summary["out"] = args.out
    if args.json:
        print_json(summary)
    else:
        print(format_summary(summary))
    return 0


def summarize(probe, scores, *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Mean score and, with a threshold, the share of items above it, each with a 95% interval."""
    from interp.probes import bootstrap_ci, share_interval

    kept = scores[~scores.isnan()]
    summary: dict[str, Any] = {
        "hook": probe.hook,
        "n_items": int(scores.numel()),
        "n_scored": int(kept.numel()),
        "n_empty": int(scores.numel() - kept.numel()),
        "threshold": probe.threshold,
        "threshold_fpr": probe.threshold_fpr,
        "mean_score": None,
        "mean_score_ci95": None,
        "flag_share": None,
        "flag_share_ci95": None,
    }
    if kept.numel() == 0:
        return summary
    mean = bootstrap_ci(lambda s: float(s.mean()), kept, n=n_boot, seed=seed)
    summary["mean_score"] = float(kept.mean())
    summary["mean_score_ci95"] = [mean.low, mean.high]
    if probe.threshold is not None:
        flagged = probe.flag(kept)
        share = share_interval(int(flagged.sum()), int(flagged.numel()))
        summary["flag_share"] = share.value
        summary["flag_share_ci95"] = [share.low, share.high]
    return summary


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


def _positions(asked: str, items) -> Positions:
    from interp.errors import InterpError

    with_response = sum(item.has_response for item in items)
    if asked == "auto":
        return "response" if with_response == len(items) else "all"
    if asked == "response" and with_response < len(items):
        raise InterpError(
            f"--positions response needs a response for every item, but "
            f"{len(items) - with_response} of {len(items)} have none",
            fix='write {"prompt", "response"} records, or score --positions all or last',
        )
    return cast(Positions, asked)


def _write_scores(path: Path, items, scores, probe) -> None:
    from interp.files import atomic_write_text

    lines = []
    for item, score in zip(items, scores.tolist(), strict=True):
        record: dict[str, Any] = {
            k: v for k, v in item.to_json().items() if k in ("prompt", "messages", "response")
        }
        record["score"] = None if score != score else score
        if probe.threshold is not None:
            record["flagged"] = None if score != score else bool(score > probe.threshold)
        lines.append(json.dumps(record))
    atomic_write_text(path, "\n".join(lines) + "\n")
