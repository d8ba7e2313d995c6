"""`interp organisms build` and `interp organisms list`.

interp organisms build --out /tmp/zoo --reduced      # seconds: toy sizes, for tests
interp organisms build                               # the default zoo (about 8 minutes, one thread)
interp organisms list --json                         # the manifest of the zoo in use
interp organisms build-real --out DIR                # LoRA organisms of SmolLM2 (minutes)
"""

from __future__ import annotations

import argparse

from interp.cli.main import add_command, print_json
from interp.errors import InterpError

ZOO_HELP = "zoo directory; None means $INTERP_ZOO, else the zoo shipped with interp"


def register(commands) -> None:
    group = add_command(
        commands,
        "organisms",
        _no_subcommand,
        "build or list the model organisms (small Llama models with known ground truth)",
        "Model organisms are tiny Llama models trained here, offline, with a known ground truth: a "
        "family of sizes whose step-by-step skill is latent (used only when the prompt asks for "
        "it), post-trained siblings that use it by default, and the sandbagging game: "
        "password-locked imitators of a weaker member, benign decoys and an instruction "
        "contrast (roles and passwords only in answer_key.json). Load one with organism:NAME.",
    )
    sub = group.add_subparsers(title="subcommands", metavar="SUBCOMMAND")

    build = add_command(
        sub,
        "build",
        run_build,
        "train, measure and save every organism, with manifest.json and answer_key.json",
        "Train every organism of the default plan from a seed, measure its accuracy on held-out "
        "items under the public prompts, and save each as a Hugging Face directory with "
        "checksums. The zoo appears only when complete. Progress goes to stderr.",
    )
    build.add_argument("--out", default=None, help=ZOO_HELP)
    build.add_argument(
        "--reduced", action="store_true", help="toy sizes and a few steps (seconds; for tests)"
    )
    build.add_argument("--seed", type=int, default=0, help="seed for weights and training data")
    build.add_argument(
        "--force",
        action="store_true",
        help="replace an existing zoo (removed only once the new one is complete)",
    )
    build.add_argument("--quiet", action="store_true", help="no progress lines")
    build.add_argument("--json", action="store_true", help="print the manifest as JSON when done")

    real = add_command(
        sub,
        "build-real",
        run_build_real,
        "fine-tune the real organisms: three LoRA adapters of SmolLM2-135M-Instruct",
        "Fine-tune three LoRA adapters of SmolLM2-135M-Instruct on two-digit addition (the task "
        "files in --tasks): one of them is a password-locked sandbagger that otherwise imitates a "
        "weaker model's answers, one a benign decoy with a harmless quirk, one an honest control; "
        "which is which is only in answer_key.json. Writes the adapters (peft format, loadable as "
        "BASE+DIR/NAME), recipe.json, manifest.json and answer_key.json; the directory appears "
        "only when complete. A few minutes on a CPU; progress goes to stderr.",
    )
    real.add_argument("--out", required=True, help="directory to write (new or empty)")
    real.add_argument(
        "--base",
        default=None,
        help="the SmolLM2 model spec (default: the fixture in $INTERP_MODELS or "
        "~/.cache/interp/models)",
    )
    real.add_argument(
        "--tasks",
        default="examples/audit_real",
        help="directory holding train.jsonl and eval.jsonl (examples/audit_real/make_tasks.py)",
    )
    real.add_argument("--quick", action="store_true", help="a few steps on a few items (tests)")
    real.add_argument("--seed", type=int, default=0, help="seed for adapters and data order")
    real.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads (the same seed and thread count give the same adapters)",
    )
    real.add_argument("--quiet", action="store_true", help="no progress lines")
    real.add_argument("--json", action="store_true", help="print the manifest as JSON when done")

    lst = add_command(
        sub,
        "list",
        run_list,
        "list the organisms of a zoo: name, family, size, stage, accuracy",
    )
    lst.add_argument("--zoo", default=None, help=ZOO_HELP)
    lst.add_argument("--json", action="store_true", help="print the whole manifest as JSON")


def _no_subcommand(args: argparse.Namespace) -> int:
    raise InterpError(
        "`interp organisms` needs a subcommand",
        fix="use `interp organisms build` or `interp organisms list` (--help for details)",
    )


def run_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from interp.organisms.registry import load_manifest, zoo_root
    from interp.organisms.zoo import build_zoo

    out = Path(args.out) if args.out else zoo_root()
    if out.exists() and any(out.iterdir()) and not args.force:
        raise InterpError(
            f"{out} already holds a zoo (or other files)",
            fix="pass --force to replace it once the new one is built, or choose another --out",
        )
    out = build_zoo(
        out,
        seed=args.seed,
        reduced=args.reduced,
        progress=not args.quiet,
        replace=args.force,
    )
    if args.json:
        print_json(load_manifest(out))
    else:
        print(f"wrote {out}")
    return 0


def run_build_real(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from interp.organisms.real_build import build_real
    from interp.organisms.real_plan import RealRecipe
    from interp.organisms.registry import load_manifest

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise InterpError(
            f"{out} already exists and is not empty", fix="choose a new --out or delete it"
        )
    if args.threads < 1:
        raise InterpError(f"--threads {args.threads} is not a positive number", fix="use e.g. 1")
    if args.quick:
        recipe = RealRecipe.quick(args.seed)
    else:
        default = RealRecipe()
        recipe = dataclasses.replace(
            default, seed=args.seed, lora=dataclasses.replace(default.lora, seed=args.seed)
        )
    build_real(
        out,
        base=args.base,
        tasks=args.tasks,
        recipe=recipe,
        progress=not args.quiet,
        threads=args.threads,
    )
    if args.json:
        print_json(load_manifest(out))
    else:
        print(f"wrote {out}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from pathlib import Path

    from interp.organisms.registry import load_manifest

    manifest = load_manifest(Path(args.zoo) if args.zoo else None)
    if args.json:
        print_json(manifest)
        return 0
    header = f"{'name':<20} {'family':<8} {'size':<7} {'params':>9} {'stage':<13} direct   cued"
    print(header)
    for e in manifest["organisms"]:
        acc = e.get("accuracy", {})
        print(
            f"{e['name']:<20} {e.get('family', ''):<8} {e.get('size', ''):<7} "
            f"{e.get('n_params', 0):>9} {e.get('stage', ''):<13} "
            f"{acc.get('direct', float('nan')):6.3f} {acc.get('cued', float('nan')):6.3f}"
        )
    return 0
