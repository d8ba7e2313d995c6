"""`interp extract` (a direction set from a contrast) and `interp align` (per-layer maps)."""

from __future__ import annotations

import argparse

from interp.cli.main import (
    add_backend_argument,
    add_command,
    add_load_arguments,
    add_model_arguments,
    load_model_from_args,
    print_json,
    progress_enabled,
)


def register(commands) -> None:
    ext = add_command(
        commands,
        "extract",
        run_extract,
        "a per-layer direction set from a positive vs negative prompt contrast",
        "Capture both prompt files at the given hook kind and positions (one row per item: the mean "
        "of its selected tokens) and aggregate per layer. mean_difference and pca need paired files "
        "of equal length; class_mean_difference takes any two sets.",
    )
    add_model_arguments(ext)
    ext.add_argument(
        "--positive", required=True, help="prompt file with the capability / property present"
    )
    ext.add_argument("--negative", required=True, help="prompt file with it absent")
    ext.add_argument("--out", required=True, help="direction set file to write (.safetensors)")
    ext.add_argument(
        "--method",
        choices=("mean_difference", "pca_of_differences", "class_mean_difference", "probe_weights"),
        default="mean_difference",
        help="aggregator: mean of paired differences, top principal component of the paired "
        "differences (sign fixed by the mean), difference of class means, or logistic-probe weights",
    )
    ext.add_argument("--hook", default="resid_post", help="hook kind read at every layer")
    ext.add_argument(
        "--positions",
        choices=("last", "all", "response", "mask"),
        default="last",
        help="tokens read per item (several tokens of one item are averaged)",
    )
    ext.add_argument("--batch-size", type=int, default=8, help="prompts per forward pass")
    ext.add_argument(
        "--from-store",
        nargs=2,
        default=None,
        metavar=("POSITIVE_DIR", "NEGATIVE_DIR"),
        help="read the activations from the stores `interp capture` wrote for --positive and "
        "--negative with this model (--hooks HOOK --positions POSITIONS) instead of running it",
    )
    ext.add_argument("--json", action="store_true", help="print a JSON summary")

    ali = add_command(
        commands,
        "align",
        run_align,
        "fit per-layer maps from SOURCE's activation space to TARGET's on shared prompts",
        "Run the same prompts through both models (last prompt token, every layer's resid_post), match "
        "layers by depth or CKA, fit one map per target layer on a training split, and report held-out "
        "fit quality (R^2, cosine of mapped vs true activations) per layer.",
    )
    ali.add_argument("source", metavar="SOURCE", help="source model spec")
    ali.add_argument("target", metavar="TARGET", help="target model spec")
    ali.add_argument("--prompts", required=True, help="shared prompt file")
    ali.add_argument("--rank", type=int, default=16, help="rank of the UNLOCK map")
    ali.add_argument(
        "--fit",
        choices=("unlock", "ridge", "procrustes"),
        default="unlock",
        help="map family: UNLOCK's rank-k least squares between principal subspaces, ridge "
        "regression, or orthogonal Procrustes",
    )
    ali.add_argument(
        "--centre", action="store_true", help="centre activations (UNLOCK's PCA pipeline)"
    )
    ali.add_argument(
        "--layers", choices=("depth", "cka"), default="depth", help="layer matching rule"
    )
    ali.add_argument(
        "--holdout", type=float, default=0.25, help="share of prompts held out for fit quality"
    )
    ali.add_argument("--seed", type=int, default=0, help="seed of the train/held-out split")
    ali.add_argument("--out", required=True, help="layer maps file to write (.safetensors)")
    add_backend_argument(ali)
    add_load_arguments(ali)
    ali.add_argument("--batch-size", type=int, default=8, help="prompts per forward pass")
    ali.add_argument(
        "--from-store",
        nargs=2,
        default=None,
        metavar=("SOURCE_DIR", "TARGET_DIR"),
        help="read the activations from the stores `interp capture` wrote for --prompts with "
        "SOURCE and with TARGET (--hooks resid_post --positions last) instead of running them",
    )
    ali.add_argument("--json", action="store_true", help="print fit quality as JSON")


def run_extract(args: argparse.Namespace) -> int:
    """Check the files, load the model, then `interp.experiments.extract.extract_directions`."""
    from interp.capture.items import read_items
    from interp.experiments.extract import check_contrast, extract_directions
    from interp.store.reader import ActivationReader

    positive, negative = read_items(args.positive), read_items(args.negative)
    check_contrast(args.method, positive, negative)
    for store in args.from_store or ():
        ActivationReader(store)  # a wrong path fails here, before the model loads
    model = load_model_from_args(args)
    directions = extract_directions(
        model,
        positive,
        negative,
        args.method,
        hook=args.hook,
        positions=args.positions,
        batch_size=args.batch_size,
        from_store=tuple(args.from_store) if args.from_store else None,
        progress=progress_enabled(),
    )
    directions.save(args.out)
    summary = {
        "out": args.out,
        "layers": list(directions.layers),
        "norms": [float(v.norm()) for v in directions.vectors],
        "method": args.method,
    }
    print_json(summary) if args.json else print(
        f"wrote {len(directions.layers)} directions to {args.out}"
    )
    return 0


def run_align(args: argparse.Namespace) -> int:
    """Parse, then `interp.experiments.align.run_align`; print the fit quality."""
    from interp.experiments.align import AlignConfig
    from interp.experiments.align import run_align as run_align_study

    config = AlignConfig(
        source=args.source,
        target=args.target,
        prompts=args.prompts,
        out=args.out,
        rank=args.rank,
        fit=args.fit,
        centre=args.centre,
        layers=args.layers,
        holdout=args.holdout,
        seed=args.seed,
        batch_size=args.batch_size,
        from_store=tuple(args.from_store) if args.from_store else None,
    )

    def load(spec: str):
        return load_model_from_args(argparse.Namespace(**{**vars(args), "model": spec}))

    result = run_align_study(config, load, progress_enabled())
    if args.json:
        print_json(result.summary())
    else:
        print(f"{'target':>6} {'source':>6} {'R^2':>8} {'cosine':>8}")
        for q in result.quality:
            print(f"{q.target_layer:>6} {q.source_layer:>6} {q.r2:>8.3f} {q.mean_cosine:>8.3f}")
        print(f"wrote {args.out}")
    return 0
