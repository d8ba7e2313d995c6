"""The `interp` command: one entry point, a subcommand per job, each a thin layer over the API.

Problems with the input print one line (`interp: error: ...`) and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from interp import __version__
from interp.errors import InterpError

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.run(args) or 0)
    except InterpError as err:
        print(f"interp: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interp: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    from interp.cli import (
        audit,
        bench,
        capture,
        demo,
        directions,
        models,
        organisms,
        probe,
        score,
        transfer,
    )

    parser = argparse.ArgumentParser(
        prog="interp",
        description="Activation analysis for transformer language models: capture activations, "
        "find and transfer directions, steer, probe, and benchmark the kernels behind them.",
        epilog="Model specs: a Hugging Face directory, a llama2.c checkpoint (.bin, tokenizer tok*.bin "
        "beside it), organism:NAME, or a hub id (online only). `interp COMMAND --help` for details.",
    )
    parser.add_argument("--version", action="version", version=f"interp {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in (
        models,
        capture,
        directions,
        transfer,
        probe,
        score,
        audit,
        organisms,
        bench,
        demo,
    ):
        module.register(commands)
    return parser


def add_command(
    commands: Any,
    name: str,
    run: Callable[[argparse.Namespace], int | None],
    help: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        name,
        help=help,
        description=description or help,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="model spec: HF directory, llama2.c .bin, organism:NAME, or hub id",
    )
    parser.add_argument(
        "--backend",
        choices=("hf", "bridge"),
        default="hf",
        help="Hugging Face modules or the TransformerLens bridge",
    )
    parser.add_argument(
        "--tokenizer",
        default=None,
        help="tokenizer file for a llama2.c checkpoint (default: tok*.bin beside it)",
    )
    parser.add_argument(
        "--device", default=None, help="torch device (default: cuda if available, else cpu)"
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "float16", "bfloat16"),
        default="float32",
        help="weights dtype",
    )


def load_model_from_args(args: argparse.Namespace):
    import torch

    from interp.models.load import load_model

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    return load_model(
        args.model,
        backend=args.backend,
        device=device,
        dtype=getattr(torch, args.dtype),
        tokenizer=args.tokenizer,
    )


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def progress_enabled() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


if __name__ == "__main__":
    raise SystemExit(main())
