"""Tokens per second of steered vs unsteered greedy generation, measured side by side in one run.

The steered run applies UNLOCK's application (norm-preserving rotation at the last prompt token,
prefill only, every block) and, as a heavier case, an addition at every generated token of every
block. Goal: steered generation keeps at least 0.9x the tokens per second of unsteered generation
on the same model and batch.

    python benchmarks/bench_steering.py            # random Llama, width 256, 6 layers, batch 8
    python benchmarks/bench_steering.py --quick    # small, for CI
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--quick", action="store_true", help="small model and few repeats (CI)")
    args = parser.parse_args(argv)
    if args.quick:
        args.width, args.layers, args.new_tokens, args.repeats = 64, 2, 16, 2
    torch.set_num_threads(args.threads)

    from interp.models.generate import generate
    from interp.models.model import Model
    from interp.models.tiny import tiny_model
    from interp.steer import Steer, steering

    hf, tokenizer = tiny_model("llama", d_model=args.width, n_layers=args.layers, n_heads=8)
    model = Model(hf=hf, tokenizer=tokenizer, spec=f"random-llama-{args.width}x{args.layers}")
    prompts = [f"prompt number {i} about a cat and a dog" for i in range(args.batch)]
    generator = torch.Generator().manual_seed(0)
    vectors = [torch.randn(args.width, generator=generator) for _ in range(args.layers)]
    cases = {
        "unsteered": [],
        "rotate_last_prefill": [
            Steer(f"blocks.{layer}.hook_resid_post", "rotate", v, 0.1, "last", "prefill")
            for layer, v in enumerate(vectors)
        ],
        "add_generated_decode": [
            Steer(f"blocks.{layer}.hook_resid_post", "add", v, 0.5, "generated", "decode")
            for layer, v in enumerate(vectors)
        ],
    }

    def run(steers) -> float:
        start = time.perf_counter()
        with steering(model, steers):
            out = generate(
                model, prompts, args.new_tokens, batch_size=args.batch, stop_at_eos=False
            )
        tokens = sum(len(g.token_ids) for g in out)
        return tokens / (time.perf_counter() - start)

    run([])  # warm-up
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, steers in cases.items():  # interleaved, so drift hits every case alike
            rates[name].append(run(steers))
    median = {name: statistics.median(values) for name, values in rates.items()}
    ratios = {name: median[name] / median["unsteered"] for name in cases}
    print(f"{'case':<24}{'tokens/s':>12}{'x unsteered':>13}")
    for name in cases:
        print(f"{name:<24}{median[name]:>12.1f}{ratios[name]:>13.3f}")
    print(
        json.dumps(
            {
                "model": model.spec,
                "batch": args.batch,
                "new_tokens": args.new_tokens,
                "threads": args.threads,
                "tokens_per_s": median,
                "ratio": ratios,
                "goal_met": min(ratios.values()) >= 0.9,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
