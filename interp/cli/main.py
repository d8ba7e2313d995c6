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
        export,
        mcqa,
        models,
        organisms,
        probe,
        probe_transfer,
        score,
        transfer,
    )

    parser = argparse.ArgumentParser(
        prog="interp",
        description="Activation analysis for transformer language models: capture activations, "
        "find and transfer directions, steer, probe, and benchmark the kernels behind them.",
        epilog="Model specs: a Hugging Face directory, a GGUF file (.gguf), a llama2.c checkpoint (.bin, "
        "tokenizer tok*.bin beside it), organism:NAME, or a hub id (online only). `interp COMMAND "
        "--help` for details.",
    )
    parser.add_argument("--version", action="version", version=f"interp {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in (
        models,
        capture,
        directions,
        export,
        transfer,
        probe,
        probe_transfer,
        mcqa,
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
        formatter_class=DefaultsHelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Adds "(default: X)" where an option has a default worth stating and its help does not
    already say what the default is; no "(default: None)" or "(default: False)"."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        silent = default is None or default is False or default in ("", argparse.SUPPRESS)
        silent = silent or "default" in text
        if silent or not action.option_strings or action.nargs == 0:
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="model spec: HF directory, .gguf file, llama2.c .bin, organism:NAME, or hub id",
    )
    add_backend_argument(parser)
    parser.add_argument(
        "--tokenizer",
        default=None,
        help="tokenizer file for a llama2.c checkpoint (default: tok*.bin beside it)",
    )
    add_load_arguments(parser)


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=("hf", "bridge"),
        default="hf",
        help="Hugging Face modules (every decoder-only family) or the TransformerLens bridge",
    )


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """Precision and placement, the same on every command that loads a model."""
    group = parser.add_argument_group("precision and placement")
    group.add_argument(
        "--device", default=None, help="torch device (default: cuda if available, else cpu)"
    )
    add_dtype_argument(
        group,
        "weights dtype (default: bfloat16 on CUDA, float32 on a CPU); statistics are computed in "
        "float32 either way",
    )
    group.add_argument(
        "--device-map",
        default=None,
        metavar="MAP",
        help="spread the model over devices with accelerate: 'auto', or a JSON object from "
        'module name to device, "cpu" or "disk" (default: everything on --device)',
    )
    group.add_argument(
        "--max-memory",
        default=None,
        metavar="LIMITS",
        help="memory per device for --device-map auto, e.g. '0=20GiB,1=20GiB,cpu=60GiB'",
    )
    group.add_argument(
        "--offload-folder",
        default=None,
        metavar="DIR",
        help="where --device-map puts weights that fit on no device",
    )


def add_dtype_argument(group: Any, help: str) -> None:
    group.add_argument(
        "--dtype", choices=("float32", "bfloat16", "float16"), default=None, help=help
    )


def add_study_run_arguments(
    parser: argparse.ArgumentParser, what: str = "study", resumable: bool = False
) -> None:
    """--config and --out of a study command (and --resume where its units are checkpointed)."""
    parser.add_argument("--config", required=True, help=f"{what} config (JSON)")
    if not resumable:
        parser.add_argument("--out", required=True, help="run directory to create (new or empty)")
        return
    parser.add_argument("--out", required=True, help="run directory to create")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an unfinished run into --out from its checkpoints (same config)",
    )


def add_study_load_arguments(parser: argparse.ArgumentParser, engine_help: str = "") -> None:
    """--dtype and --device-map (and, with `engine_help`, --engine) for a study: they override
    the config's and are recorded in the run directory's config.json."""
    group = parser.add_argument_group("precision, placement and engine (override the config)")
    add_dtype_argument(
        group,
        "weights dtype of every model (default: the config's, else bfloat16 on CUDA and float32 "
        "on a CPU)",
    )
    group.add_argument(
        "--device-map",
        default=None,
        metavar="MAP",
        help="'auto' or a JSON object from module name to device, for every model "
        "(default: the config's, else one device)",
    )
    if engine_help:
        group.add_argument("--engine", choices=["hf", "vllm"], default=None, help=engine_help)


def with_study_loading(config: Any, args: argparse.Namespace) -> Any:
    """`config` with the precision and placement given on the command line, checked again."""
    import dataclasses

    changes: dict[str, Any] = {}
    if args.dtype is not None:
        changes["dtype"] = args.dtype
    if args.device_map is not None:
        changes["device_map"] = parse_device_map(args.device_map)
    if getattr(args, "engine", None) is not None:
        changes["engine"] = args.engine
    if not changes:
        return config
    config = dataclasses.replace(config, **changes)
    config.check("the command line")
    return config


def load_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of `load_model` that the loading options on `args` ask for."""
    return {
        "device": getattr(args, "device", None),
        "dtype": getattr(args, "dtype", None),
        "device_map": parse_device_map(getattr(args, "device_map", None)),
        "max_memory": parse_max_memory(getattr(args, "max_memory", None)),
        "offload_folder": getattr(args, "offload_folder", None),
    }


def parse_device_map(text: str | None) -> str | dict[str, Any] | None:
    if text is None or not text.strip().startswith("{"):
        return text
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as err:
        raise InterpError(
            f"--device-map is not valid JSON ({err.msg})",
            fix='write e.g. \'{"model.layers.0": 0, "model.layers.1": "cpu"}\' or auto',
        ) from None
    if not isinstance(parsed, dict):
        raise InterpError("--device-map must be 'auto' or a JSON object", fix="e.g. auto")
    return parsed


def parse_max_memory(text: str | None) -> dict[int | str, str] | None:
    if text is None:
        return None
    limits: dict[int | str, str] = {}
    for part in text.split(","):
        device, sep, amount = part.partition("=")
        if not sep or not device.strip() or not amount.strip():
            raise InterpError(
                f"--max-memory entry {part!r} is not DEVICE=AMOUNT",
                fix="write e.g. 0=20GiB,cpu=60GiB",
            )
        key = device.strip()
        limits[int(key) if key.isdigit() else key] = amount.strip()
    return limits


def load_model_from_args(args: argparse.Namespace):
    import time

    from interp.models.load import load_model
    from interp.models.specs import resolve_spec

    resolve_spec(args.model)  # a wrong path is one error line, with no progress before it
    started = time.perf_counter()
    print(f"interp: loading {args.model}", file=sys.stderr, flush=True)
    model = load_model(
        args.model,
        backend=args.backend,
        tokenizer=getattr(args, "tokenizer", None),
        **load_kwargs(args),
    )
    print(
        f"interp: loaded {model.architecture}, {model.n_layers} layers, width {model.d_model}, "
        f"{str(model.dtype).removeprefix('torch.')} on {model.device} "
        f"({time.perf_counter() - started:.1f} s)",
        file=sys.stderr,
        flush=True,
    )
    return model


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def progress_enabled() -> bool:
    """Progress on stderr: a bar on a terminal, a line per stage elsewhere (interp.progress);
    INTERP_PROGRESS=0 turns it off."""
    return os.environ.get("INTERP_PROGRESS", "1") != "0"


if __name__ == "__main__":
    raise SystemExit(main())
