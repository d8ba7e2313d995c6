"""`interp capture`: read activations for a prompt file into a store or reduced statistics."""

from __future__ import annotations

import argparse

from interp.capture.names import POSITIONS, REDUCTIONS
from interp.cli.main import (
    add_command,
    add_model_arguments,
    load_model_from_args,
    print_json,
    progress_enabled,
)


def register(commands) -> None:
    cap = add_command(
        commands,
        "capture",
        run_capture,
        "read activations at hook points for a file of prompts",
        "Run prompts through MODEL in padded batches and read activations at the given hook points and "
        "token positions. 'keep' writes every selected row to a resumable store of safetensors shards "
        "in --out (rerunning the same command skips finished prompts); 'mean', 'label_mean' and "
        "'moments' stream fixed-size statistics into --out/reduced.safetensors. Prompt files: .txt (one "
        'prompt a line) or .jsonl records {"prompt", "response"?, "label"?, "positions"?}.',
    )
    add_model_arguments(cap)
    cap.add_argument("--prompts", required=True, help="prompt file (.txt, .jsonl or .json)")
    cap.add_argument(
        "--hooks",
        nargs="+",
        default=["resid_post"],
        help="hook points: full names (blocks.-1.hook_resid_post), wildcards (blocks.*.hook_mlp_out) or a kind for every layer (resid_post)",
    )
    cap.add_argument("--positions", choices=POSITIONS, default="last", help="which tokens to read")
    cap.add_argument(
        "--reduce", nargs="+", choices=REDUCTIONS, default=["keep"], help="what to keep"
    )
    cap.add_argument("--out", required=True, help="output directory")
    cap.add_argument("--batch-size", type=int, default=8, help="prompts per forward pass")
    cap.add_argument(
        "--padding-side", choices=("left", "right"), default="left", help="where padding goes"
    )
    cap.add_argument(
        "--store-dtype",
        choices=("float32", "float16", "bfloat16"),
        default=None,
        help="dtype of stored rows (default: the model's)",
    )
    cap.add_argument("--json", action="store_true", help="print a JSON summary")


def run_capture(args: argparse.Namespace) -> int:
    import torch

    from interp.capture.items import read_items
    from interp.capture.run import capture

    items = read_items(args.prompts)
    model = load_model_from_args(args)
    result = capture(
        model,
        items,
        args.hooks,
        positions=args.positions,
        reduce=args.reduce,
        batch_size=args.batch_size,
        padding_side=args.padding_side,
        out=args.out,
        store_dtype=getattr(torch, args.store_dtype) if args.store_dtype else None,
        progress=progress_enabled(),
    )
    summary = {
        "model": model.spec,
        "out": args.out,
        "items": len(items),
        "hooks": result.hooks,
        "positions": result.positions,
        "reduce": args.reduce,
        "labels": result.labels,
    }
    if result.store is not None:
        from interp.store.reader import ActivationReader

        summary["rows"] = ActivationReader(result.store).num_rows
    if args.json:
        print_json(summary)
    else:
        print(f"captured {len(items)} prompts at {len(result.hooks)} hook points into {args.out}")
    return 0
