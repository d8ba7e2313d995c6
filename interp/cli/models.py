"""`interp info`, `interp generate`, `interp convert`."""

from __future__ import annotations

import argparse
import sys
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
    gen.add_argument(
        "--prompts",
        default=None,
        metavar="FILE",
        help="a batch of prompts instead of --prompt: one per line, or JSON lines of "
        '{"prompt": ...} / {"messages": [...]} records; --json prints one record per prompt',
    )
    gen.add_argument(
        "--engine",
        choices=("hf", "vllm"),
        default="hf",
        help="hf: the model's Hugging Face modules; vllm: the vLLM engine (its own environment, "
        "`make setup-vllm`), steering inside the engine",
    )
    gen.add_argument(
        "--chat",
        action="store_true",
        help="send the prompt as a user message through the model's chat template",
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
        "write a GGUF file or a llama2.c checkpoint as a Hugging Face directory with its tokenizer",
        "Convert a GGUF file (dequantized to float32, tokenizer and chat template from the file) or "
        "a llama2.c checkpoint (and its tok*.bin tokenizer) into a Hugging Face directory that loads "
        "offline with transformers and TransformerLens' TransformerBridge, and fast: a GGUF is "
        "dequantized once, not at every load. The directory appears only when complete, and the "
        "conversion is checked by comparing logits after reloading.",
    )
    conv.add_argument(
        "checkpoint", metavar="CHECKPOINT", help="a .gguf file or a llama2.c .bin checkpoint"
    )
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
    from interp.models.tokens import Chat
    from interp.steer import steering, steers_from_directions
    from interp.steer.effect import steer_effect

    if args.engine == "vllm" or args.prompts:
        from interp.cli.generate_batch import run_generate_batch

        return run_generate_batch(args)
    model = load_model_from_args(args)
    prompt = Chat.of(args.prompt) if args.chat else args.prompt
    context: AbstractContextManager[None] = nullcontext()
    steers = []
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
            prompt,
            args.max_new_tokens,
            greedy=not args.sample,
            temperature=args.temperature,
            seed=args.seed,
        )
    effect = steer_effect(model, prompt, result.token_ids, steers) if steers else None
    if effect is not None:
        print(f"interp: {effect.describe()}", file=sys.stderr)
    if args.json:
        record = {
            "prompt": args.prompt,
            "chat": args.chat,
            "text": result.text,
            "token_ids": result.token_ids,
            "model": model.spec,
        }
        if effect is not None:
            record["steer_effect"] = effect.as_json()
        print_json(record)
    else:
        print(result.text if args.chat else args.prompt + result.text)
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from interp.models.convert import convert_model

    print(f"interp: converting {args.checkpoint}", file=sys.stderr, flush=True)
    out = convert_model(args.checkpoint, Path(args.out), tokenizer=args.tokenizer)
    if args.json:
        print_json({"out": str(out)})
    else:
        print(f"wrote {out}")
    return 0
