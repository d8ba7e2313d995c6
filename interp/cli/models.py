"""`interp info`, `interp generate`, `interp convert`."""

from __future__ import annotations

import argparse
from pathlib import Path

from interp.cli.main import add_command, add_model_arguments, load_model_from_args, print_json


def register(commands) -> None:
    info = add_command(
        commands,
        "info",
        run_info,
        "show a model's layers, width, heads, vocabulary and hook points",
    )
    add_model_arguments(info)
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")

    gen = add_command(
        commands, "generate", run_generate, "continue a prompt (greedy unless --sample)"
    )
    add_model_arguments(gen)
    gen.add_argument(
        "--prompt", default="", help="prompt text; empty starts from the BOS token alone"
    )
    gen.add_argument("--max-new-tokens", type=int, default=150, help="tokens to generate at most")
    gen.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    gen.add_argument(
        "--temperature", type=float, default=1.0, help="sampling temperature (with --sample)"
    )
    gen.add_argument("--seed", type=int, default=0, help="sampling seed (with --sample)")
    gen.add_argument(
        "--steer",
        default=None,
        help="direction set file to steer with (from interp extract or align)",
    )
    gen.add_argument("--alpha", type=float, default=0.1, help="steering strength")
    gen.add_argument(
        "--operator",
        choices=("rotate", "add", "ablate"),
        default="rotate",
        help="steering operator",
    )
    gen.add_argument(
        "--steer-positions",
        choices=("last", "prompt", "generated", "all"),
        default="last",
        help="tokens to steer",
    )
    gen.add_argument(
        "--phase",
        choices=("prefill", "decode", "both"),
        default="prefill",
        help="passes to steer in",
    )
    gen.add_argument(
        "--layers",
        type=int,
        nargs="+",
        default=None,
        help="layers to steer (default: all in the file)",
    )
    gen.add_argument("--json", action="store_true", help="print JSON with the text and token ids")

    conv = add_command(
        commands,
        "convert",
        run_convert,
        "write a llama2.c checkpoint as a Hugging Face directory with its tokenizer",
        "Convert a llama2.c checkpoint (and its tok*.bin tokenizer) into a Hugging Face directory that "
        "loads offline with transformers and TransformerLens' TransformerBridge. The directory appears "
        "only when complete, and the conversion is checked by comparing logits after reloading.",
    )
    conv.add_argument("checkpoint", metavar="CHECKPOINT", help="llama2.c .bin checkpoint")
    conv.add_argument(
        "--out", required=True, help="directory to create (must not exist or be empty)"
    )
    conv.add_argument(
        "--tokenizer", default=None, help="tok*.bin (default: the one beside the checkpoint)"
    )
    conv.add_argument("--json", action="store_true", help="print JSON")


def run_info(args: argparse.Namespace) -> int:
    from interp.hooks.names import all_hook_names

    model = load_model_from_args(args)
    info = {**model.describe(), "hook_points": all_hook_names(model)}
    if args.json:
        print_json(info)
        return 0
    hooks = info.pop("hook_points")
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key:<{width}}  {value}")
    kinds = sorted({h.split(".hook_")[1] for h in hooks})
    print(
        f"{'hook_points':<{width}}  blocks.{{0..{model.n_layers - 1}}}.hook_{{{','.join(kinds)}}}"
    )
    return 0


def run_generate(args: argparse.Namespace) -> int:
    from contextlib import AbstractContextManager, nullcontext

    from interp.directions import DirectionSet
    from interp.models.generate import generate
    from interp.steer import steering, steers_from_directions

    model = load_model_from_args(args)
    context: AbstractContextManager[None] = nullcontext()
    if args.steer:
        directions = DirectionSet.load(args.steer, model=model, strict=False)
        steers = steers_from_directions(
            directions,
            args.operator,
            args.alpha,
            positions=args.steer_positions,
            phase=args.phase,
            layers=args.layers,
        )
        context = steering(model, steers)
    with context:
        (result,) = generate(
            model,
            args.prompt,
            args.max_new_tokens,
            greedy=not args.sample,
            temperature=args.temperature,
            seed=args.seed,
        )
    if args.json:
        print_json(
            {
                "prompt": result.prompt,
                "text": result.text,
                "token_ids": result.token_ids,
                "model": model.spec,
            }
        )
    else:
        print(result.prompt + result.text)
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from interp.models.convert import convert_llama2c

    out = convert_llama2c(args.checkpoint, Path(args.out), tokenizer=args.tokenizer)
    if args.json:
        print_json({"out": str(out)})
    else:
        print(f"wrote {out}")
    return 0
