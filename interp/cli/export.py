"""`interp export` (a direction set as a llama.cpp control vector) and `interp import` (back)."""

from __future__ import annotations

import argparse

from interp.cli.main import add_command, print_json
from interp.errors import InterpError


def register(commands) -> None:
    exp = add_command(
        commands,
        "export",
        run_export,
        "write direction sets as a llama.cpp control vector (GGUF)",
        "Write the directions of one or more direction set files (interp extract's output, at "
        "hook_resid_post) as a llama.cpp control vector: direction.{k} is added to the output of "
        "block k, the same layer numbering as interp's blocks.{k}.hook_resid_post. Use it with "
        "llama.cpp's --control-vector-scaled FILE SCALE, which matches interp's 'add' operator "
        "at alpha = SCALE on every position (no normalization).",
    )
    exp.add_argument("dirs", metavar="DIRS", nargs="+", help="direction set files (.safetensors)")
    exp.add_argument("--format", choices=("gguf",), default="gguf", help="file format")
    exp.add_argument("--out", required=True, help="control vector file to write (.gguf)")
    exp.add_argument(
        "--component",
        type=int,
        default=None,
        help="which of several sets covering the same layers to export (0-based)",
    )
    exp.add_argument(
        "--layers",
        default=None,
        help="comma-separated layers to export (default: every layer of the set)",
    )
    exp.add_argument(
        "--model-hint",
        default=None,
        help="controlvector.model_hint (default: the architecture of the set's GGUF model, else "
        "its model spec)",
    )
    exp.add_argument("--json", action="store_true", help="print a JSON summary")

    imp = add_command(
        commands,
        "import",
        run_import,
        "read a llama.cpp or repeng control vector (GGUF) into a direction set",
        "Read a control vector file (interp export's, llama.cpp cvector-generator's, repeng's "
        "ControlVector.export_gguf's) as a direction set at hook_resid_post, direction.{k} at "
        "layer k. interp's own exports keep their model and provenance; others record the model "
        "hint, or the model given with --model.",
    )
    imp.add_argument("file", metavar="FILE", help="control vector file (.gguf)")
    imp.add_argument("--out", required=True, help="direction set file to write (.safetensors)")
    imp.add_argument(
        "--model",
        default=None,
        help="model spec the vector belongs to (loaded to record its width, depth and config)",
    )
    imp.add_argument(
        "--n-layers",
        type=int,
        default=None,
        help="the model's depth when --model is not given (default: highest layer + 1)",
    )
    imp.add_argument("--json", action="store_true", help="print a JSON summary")


def run_export(args: argparse.Namespace) -> int:
    from interp.directions.control_vector import (
        combine_for_export,
        describe,
        write_control_vector,
    )
    from interp.directions.direction_set import DirectionSet

    layers = parse_layers(args.layers) if args.layers else None
    sets = [DirectionSet.load(path) for path in args.dirs]
    ds = combine_for_export(sets, args.component, layers)
    path = write_control_vector(ds, args.out, model_hint=args.model_hint)
    summary = {"out": str(path), **describe(ds)}
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {path}: {len(ds.layers)} directions, layers {list(ds.layers)}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from interp.directions.control_vector import describe, read_control_vector
    from interp.store.artifacts import ModelRef

    ref = None
    if args.model is not None:
        from interp.models.load import load_model

        ref = ModelRef.of(load_model(args.model))
    ds = read_control_vector(args.file, model=ref, n_layers=args.n_layers)
    path = ds.save(args.out)
    summary = {"out": str(path), **describe(ds)}
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {path}: {len(ds.layers)} directions, layers {list(ds.layers)}")
    return 0


def parse_layers(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InterpError(
            f"--layers {text!r} is not a comma-separated list of layers", fix="write e.g. 1,2,3"
        ) from None
