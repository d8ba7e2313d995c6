"""Tokens per second of steered and unsteered greedy generation on vLLM and on hf, side by side.

A grid like a transfer study's: 256 prompts x 8 steering settings (four strengths of one direction
and four random directions of equal norm, each an addition at three blocks, at every token in both
phases: the heaviest position and phase). On vLLM the whole grid is one batch of requests, each
carrying its own steer; on hf each setting is a `steering` block over batched `generate`. Every
continuation runs to `--new-tokens` (no stop at end of text) so every case makes the same tokens.

Goals: steering costs vLLM at most 10% of its unsteered throughput; the vLLM / hf ratio is reported.
hf is measured on the first `--hf-prompts` prompts of each setting (a rate, so a subset measures it;
the full grid on hf takes many times longer).

    .venv-vllm/bin/python benchmarks/bench_engine.py            # SmolLM2-135M-Instruct, the full grid
    .venv-vllm/bin/python benchmarks/bench_engine.py --quick    # 32 prompts, 8 new tokens
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TOPICS = ["the sea", "a city", "music", "winter", "a robot", "gardens", "trains", "the moon"]
LAYERS = (8, 12, 16)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    default_model = Path.home() / ".cache" / "interp" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    parser.add_argument("--model", default=str(default_model))
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--settings", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--hf-prompts", type=int, default=64)
    parser.add_argument("--hf-batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--quick", action="store_true", help="32 prompts, 8 new tokens")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the figures here")
    args = parser.parse_args(argv)
    if args.quick:
        args.prompts, args.new_tokens, args.hf_prompts = 32, 8, 16
    torch.set_num_threads(args.threads)

    from interp.engines.vllm_engine import VLLMEngine
    from interp.models.generate import generate
    from interp.models.load import load_model
    from interp.steer import Steer, steering

    prompts = [
        f"Write one sentence about {TOPICS[i % len(TOPICS)]} ({i})." for i in range(args.prompts)
    ]
    hf_model = load_model(args.model, device="cpu", dtype="float32")
    settings = _settings(hf_model.d_model, args.settings, Steer)
    tokens_per_setting = args.prompts * args.new_tokens
    figures: dict[str, float] = {}

    with VLLMEngine(args.model, max_num_seqs=256) as engine:
        grid = [p for _ in settings for p in prompts]
        per_request = [steers for steers in settings for _ in prompts]
        engine.generate(prompts[:8], 4)  # warm-up
        for label, plan in [("unsteered", None), ("steered", per_request)] * 2:
            started = time.perf_counter()
            out = engine.generate(grid, args.new_tokens, steers=plan, stop_at_eos=False)
            seconds = time.perf_counter() - started
            made = sum(len(g.token_ids) for g in out)
            assert made == tokens_per_setting * len(settings), made
            rate = made / seconds
            key = f"vllm_{label}"
            figures[key] = max(figures.get(key, 0.0), rate)  # best of two, under shared load
            print(
                f"vllm {label:>9}: {made} tokens in {seconds:.1f} s, {rate:.0f} tokens/s",
                flush=True,
            )

    torch.set_num_threads(args.threads)
    subset = prompts[: args.hf_prompts]
    for label in ("unsteered", "steered"):
        started, made = time.perf_counter(), 0
        for steers in settings:
            with steering(hf_model, steers if label == "steered" else []):
                out = generate(
                    hf_model, subset, args.new_tokens, batch_size=args.hf_batch, stop_at_eos=False
                )
            made += sum(len(g.token_ids) for g in out)
        seconds = time.perf_counter() - started
        figures[f"hf_{label}"] = made / seconds
        print(
            f"hf   {label:>9}: {made} tokens in {seconds:.1f} s, {made / seconds:.0f} tokens/s",
            flush=True,
        )

    figures["vllm_steering_cost"] = 1 - figures["vllm_steered"] / figures["vllm_unsteered"]
    figures["hf_steering_cost"] = 1 - figures["hf_steered"] / figures["hf_unsteered"]
    figures["vllm_over_hf_unsteered"] = figures["vllm_unsteered"] / figures["hf_unsteered"]
    figures["vllm_over_hf_steered"] = figures["vllm_steered"] / figures["hf_steered"]
    _report(args, figures)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "figures": figures}, indent=2))
    return 0


def _settings(d_model: int, n: int, Steer) -> list[list]:
    """Half the settings: one direction at growing strengths; half: random directions of its norm."""
    gen = torch.Generator().manual_seed(0)
    direction = torch.randn(d_model, generator=gen)
    settings = []
    for i in range(n):
        if i < n - n // 2:
            v, alpha = direction, 2.0 * (i + 1)
        else:
            v = torch.randn(d_model, generator=gen)
            v, alpha = v * direction.norm() / v.norm(), 2.0 * (n - n // 2)
        settings.append(
            [
                Steer(f"blocks.{layer}.hook_resid_post", "add", v, alpha, "all", "both")
                for layer in LAYERS
            ]
        )
    return settings


def _report(args, f: dict[str, float]) -> None:
    print()
    print(
        f"{args.prompts} prompts x {args.settings} settings, {args.new_tokens} new tokens each, "
        f"{args.threads} threads (hf on {args.hf_prompts} prompts per setting)"
    )
    print("| engine | unsteered tokens/s | steered tokens/s | steering cost |")
    print("| --- | --- | --- | --- |")
    for engine in ("vllm", "hf"):
        print(
            f"| {engine} | {f[engine + '_unsteered']:.0f} | {f[engine + '_steered']:.0f} | "
            f"{100 * f[engine + '_steering_cost']:.1f}% |"
        )
    print(
        f"vLLM / hf: {f['vllm_over_hf_unsteered']:.1f}x unsteered, {f['vllm_over_hf_steered']:.1f}x steered"
    )
    goal = "met" if f["vllm_steering_cost"] <= 0.10 else "NOT met"
    print(f"goal (steering costs vLLM <= 10%): {goal}")


if __name__ == "__main__":
    sys.exit(main())
