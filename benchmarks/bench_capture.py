"""Cost of streaming capture against a plain forward pass and TransformerLens' run_with_cache.

On a random Llama-architecture model large enough that the forward pass dominates, measures in one
run: the time per batch of a plain forward; the same with streaming per-label-mean capture at every
layer's resid_post; and `run_with_cache` followed by the same means. Peak memory is measured in a
fresh subprocess per configuration (peak resident set size above the loaded model, Linux only), at N prompts and
at 10 x N prompts. Goal: capture costs at most 1.10x a plain forward, and its peak memory stays flat
as the prompts grow tenfold while run_with_cache's grows.

    python benchmarks/bench_capture.py            # width 512, 8 layers, batches of 8 x 128 tokens
    python benchmarks/bench_capture.py --quick    # a small model, for CI
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def build(width: int, layers: int, seed: int = 0):
    from interp.models.model import Model
    from interp.models.tiny import tiny_model

    hf, tokenizer = tiny_model("llama", d_model=width, n_layers=layers, n_heads=8, seed=seed)
    return Model(hf=hf, tokenizer=tokenizer, spec=f"random-llama-{width}x{layers}")


def batches(model, n_prompts: int, batch: int, tokens: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, model.vocab_size, (n_prompts, tokens), generator=generator)
    ids[:, 0] = 1
    labels = torch.arange(n_prompts) % 2
    return [(ids[i : i + batch], labels[i : i + batch]) for i in range(0, n_prompts, batch)]


def plain(model, data) -> None:
    for ids, _ in data:
        model.forward(ids)


def streaming(model, data) -> dict:
    """Per-label means at every layer's resid_post, through interp's hooks and reducers."""
    from interp.capture.batching import Batch
    from interp.capture.reducers import LabelMeans
    from interp.hooks.context import hooked

    reducer = LabelMeans(n_labels=2)
    names = [f"blocks.{layer}.hook_resid_post" for layer in range(model.n_layers)]
    with hooked(
        model, [(name, (lambda n: lambda h: reducer.update(n, h))(name)) for name in names]
    ):
        for ids, labels in data:
            mask = torch.ones_like(ids)
            reducer.begin_batch(
                Batch(ids, mask, mask.bool(), mask.cumsum(-1) - 1, torch.arange(len(ids))), labels
            )
            model.forward(ids, mask)
            reducer.end_batch()
    return reducer.result()


def run_with_cache_means(bridge, data) -> dict:
    """The TransformerLens way: cache the whole run, then reduce."""
    names = [f"blocks.{layer}.hook_resid_post" for layer in range(bridge.cfg.n_layers)]
    ids = torch.cat([ids for ids, _ in data])
    labels = torch.cat([labels for _, labels in data])
    with torch.no_grad():
        _, cache = bridge.run_with_cache(ids, names_filter=lambda name: name in names)
    return {
        name: torch.stack([cache[name][labels == k].mean((0, 1)) for k in (0, 1)]) for name in names
    }


def time_interleaved(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each function, run in turn so drift in the machine hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def peak_rss_mb(mode: str, args, n_prompts: int) -> float:
    """Peak resident memory of one configuration above the loaded model, in a fresh process."""
    cmd = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--child-prompts",
        str(n_prompts),
        "--width",
        str(args.width),
        "--layers",
        str(args.layers),
        "--batch",
        str(args.batch),
        "--tokens",
        str(args.tokens),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def child(args) -> None:
    torch.set_num_threads(args.threads)
    model = build(args.width, args.layers)
    data = batches(model, args.child_prompts, args.batch, args.tokens)
    runner = None
    if args.child == "run_with_cache":
        from interp.models.load import with_backend

        runner = with_backend(model, "bridge", copy=False).bridge
    base = reset_peak_rss_kb()
    if args.child == "plain":
        plain(model, data)
    elif args.child == "streaming":
        streaming(model, data)
    else:
        run_with_cache_means(runner, data)
    print((status_kb("VmHWM") - base) / 1024)


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak_rss_kb() -> int:
    """Reset the peak resident set size (Linux: clear_refs 5) and return the current one, in kB,
    so the peak measured afterwards belongs to the work that follows, not to model building."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    return status_kb("VmRSS")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument(
        "--prompts",
        type=int,
        default=16,
        help="prompts in the timed run and the smaller memory run",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--quick", action="store_true", help="small model and few repeats (CI)")
    parser.add_argument(
        "--child", choices=("plain", "streaming", "run_with_cache"), help=argparse.SUPPRESS
    )
    parser.add_argument("--child-prompts", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.width, args.layers, args.tokens, args.prompts, args.repeats = 64, 2, 32, 8, 3
    if args.child:
        child(args)
        return 0
    torch.set_num_threads(args.threads)
    model = build(args.width, args.layers)
    from interp.models.load import with_backend

    bridge = with_backend(model, "bridge").bridge
    data = batches(model, args.prompts, args.batch, args.tokens)
    plain(model, data)  # warm-up
    seconds = time_interleaved(
        {
            "plain": lambda: plain(model, data),
            "streaming": lambda: streaming(model, data),
            "run_with_cache": lambda: run_with_cache_means(bridge, data),
        },
        args.repeats,
    )
    # The two ways of computing the means must agree, or the comparison means nothing.
    a, b = streaming(model, data), run_with_cache_means(bridge, data)
    max_diff = max(float((a[name].means - b[name]).abs().max()) for name in b)

    memory = {
        mode: {n: peak_rss_mb(mode, args, n) for n in (args.prompts, 10 * args.prompts)}
        for mode in ("plain", "streaming", "run_with_cache")
    }
    result = {
        "model": model.spec,
        "batch": f"{args.batch}x{args.tokens}",
        "threads": args.threads,
        "seconds": seconds,
        "streaming_over_plain": seconds["streaming"] / seconds["plain"],
        "run_with_cache_over_plain": seconds["run_with_cache"] / seconds["plain"],
        "peak_mb": {
            mode: {str(n): round(v, 1) for n, v in by_n.items()} for mode, by_n in memory.items()
        },
        "streaming_peak_growth_10x": memory["streaming"][10 * args.prompts]
        / max(memory["streaming"][args.prompts], 1.0),
        "run_with_cache_peak_growth_10x": memory["run_with_cache"][10 * args.prompts]
        / max(memory["run_with_cache"][args.prompts], 1.0),
        "means_max_abs_diff": max_diff,
    }
    print(
        f"{'mode':<16}{'s / run':>10}{'x plain':>9}{'peak MB @' + str(args.prompts):>14}{'peak MB @' + str(10 * args.prompts):>14}"
    )
    for mode in ("plain", "streaming", "run_with_cache"):
        print(
            f"{mode:<16}{seconds[mode]:>10.4f}{seconds[mode] / seconds['plain']:>9.3f}{memory[mode][args.prompts]:>14.1f}{memory[mode][10 * args.prompts]:>14.1f}"
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
