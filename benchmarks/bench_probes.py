"""Scoring every token of a batch with a bank of 64 probes vs with one probe, end to end and alone.

Goal (the issue): scoring every token of a batch with 64 probes at once costs at most 1.2x a
single probe. "Scoring every token of a batch" is the whole job, so the goal is judged end to end:

- **end to end** (`end_to_end_ratio`, `meets_goal`): a random tiny Llama built with
  `interp.models.tiny.tiny_model` (width 512, 4 layers, 8 heads; its weights are random, the cost
  is the same) runs `Model.forward` over a batch of 8 x 256 random tokens; the residual stream is
  read at one hook (`blocks.{layers // 2}.hook_resid_post`) through the project's own hook
  machinery (`interp.hooks.context.hooked`), and every token is scored there by a prebuilt
  `ProbeBank` of 1 or of 64 probes. Three calls are timed: the forward alone, forward + 1 probe,
  forward + 64 probes, with `end_to_end_ratio = (forward + 64) / (forward + 1)`.
- **kernel only** (`ratio`, `project_ratio`): `score_many(acts, bank)` with a prebuilt
  `ProbeBank` (no restacking in the timing) and the bare projection `project(acts, V, bias)`, on
  8 x 512 tokens x width 512, for 1 probe and for 64. On the CPU this ratio is far above 1.2x and
  says little about the goal: one probe is a memory-bound matrix-vector product, 64 probes a
  64-column matmul that is compute-bound on one CPU thread. On a GPU the projection kernel reads
  the activations once for all k probes, so the bank should cost close to 1x there (unmeasured
  here: this script only reports what it measures).
- **restack** (`restack_one_ms`, `restack_bank_ms`): building the bank (folding each probe's
  standardizer, stacking V and bias) and its float32 copy: what `score_many` on a list pays on
  every call and a `ProbeBank` pays once. Reported apart, in no ratio.

Each set of calls is measured in one run, interleaved (the order rotates every repeat), and the
median of the repeats is reported. Bandwidth (kernel rows) is the bytes that must move (the
activations read once, V, the scores written) over the median time.

    python benchmarks/bench_probes.py                 # the sizes above, 64 probes
    python benchmarks/bench_probes.py --quick         # small and short, for CI
    python benchmarks/bench_probes.py --csv benchmarks/results.csv   # also append the rows

Prints a table, then one line of JSON (the last line) with the ratios.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

GOAL_RATIO = 1.2


def make_probes(k: int, width: int, device: torch.device, seed: int = 0) -> list:
    """`k` random probes of one width (the standardizer is random too, so folding is exercised)."""
    from interp.probes import LinearProbe, Standardizer

    gen = torch.Generator().manual_seed(seed)
    return [
        LinearProbe(
            torch.randn(width, generator=gen, dtype=torch.float64),
            Standardizer(
                torch.randn(width, generator=gen, dtype=torch.float64),
                torch.rand(width, generator=gen, dtype=torch.float64) + 0.5,
            ),
            bias=float(torch.randn(1, generator=gen)),
        )
        for _ in range(k)
    ]


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds for one call, the device drained before and after."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def interleaved(
    calls: dict[str, Callable[[], object]], device: torch.device, repeats: int, warmup: int
) -> dict[str, float]:
    """Median seconds of each call, measured in turn (the order rotates every repeat)."""
    names = list(calls)
    for _ in range(warmup):
        for name in names:
            calls[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(repeats):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(timed(calls[name], device))
    return {name: statistics.median(t) for name, t in times.items()}


def build_model(width: int, layers: int, heads: int, device: torch.device):
    """A random tiny Llama of the given width (`interp.models.tiny.tiny_model`) as an interp Model."""
    from interp.models.model import Model
    from interp.models.tiny import tiny_model

    hf, tokenizer = tiny_model("llama", d_model=width, n_layers=layers, n_heads=heads)
    return Model(hf=hf.to(device), tokenizer=tokenizer, spec=f"random-llama-{width}x{layers}")


def end_to_end(args: argparse.Namespace, probes: list, device: torch.device) -> dict:
    """Forward alone, forward + one probe, forward + the bank: median seconds, interleaved."""
    from interp.hooks.context import hooked
    from interp.probes import ProbeBank

    model = build_model(args.width, args.layers, args.heads, device)
    hook = f"blocks.{args.layers // 2}.hook_resid_post"
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(4, model.vocab_size, (args.batch, args.seq), generator=gen)
    ids[:, 0] = 1  # BOS
    ids, mask = ids.to(device), torch.ones_like(ids, device=device)
    banks = {"one": ProbeBank(probes[:1]), "bank": ProbeBank(probes)}
    scores: list[torch.Tensor] = []

    def forward_scoring(bank) -> Callable[[], object]:
        def call() -> object:
            scores.clear()
            with hooked(model, {hook: lambda h: scores.append(bank.score(h))}):  # returns None
                return model.forward(ids, mask)

        return call

    with torch.inference_mode():
        times = interleaved(
            {
                "forward": lambda: model.forward(ids, mask),
                "one": forward_scoring(banks["one"]),
                "bank": forward_scoring(banks["bank"]),
            },
            device,
            args.e2e_repeats,
            args.warmup,
        )
    # The last call scored every token of the batch with whichever bank ran last.
    assert len(scores) == 1 and scores[0].shape[:2] == (args.batch, args.seq)
    return {"hook": hook, "spec": model.spec, **times}


def measure(args: argparse.Namespace) -> dict:
    """All the timings and what they mean, as one record."""
    from interp.kernels import current_backend, project
    from interp.probes import ProbeBank, score_many

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    gen = torch.Generator().manual_seed(0)
    acts = torch.randn(args.batch, args.tokens, args.width, generator=gen).to(device)  # (B, T, D)
    probes = make_probes(args.probes, args.width, device)
    one, bank = ProbeBank(probes[:1]), ProbeBank(probes)
    V1, b1 = one.weights(device)
    Vk, bk = bank.weights(device)

    with torch.inference_mode():
        full = interleaved(
            {"one": lambda: score_many(acts, one), "bank": lambda: score_many(acts, bank)},
            device,
            args.repeats,
            args.warmup,
        )
        kernel = interleaved(
            {"one": lambda: project(acts, V1, b1), "bank": lambda: project(acts, Vk, bk)},
            device,
            args.repeats,
            args.warmup,
        )
        restack = interleaved(
            {
                "one": lambda: ProbeBank(probes[:1]).weights(device),
                "bank": lambda: ProbeBank(probes).weights(device),
            },
            device,
            args.repeats,
            args.warmup,
        )
    e2e = end_to_end(args, probes, device)
    rows = acts.shape[0] * acts.shape[1]

    def moved(k: int) -> int:  # activations read once, V and bias, the scores written
        return acts.numel() * acts.element_size() + (args.width + 1) * k * 4 + rows * k * 4

    e2e_ratio = e2e["bank"] / e2e["one"]
    kernel_ratio = full["bank"] / full["one"]
    return {
        "bench": "probes",
        "device": _device_name(device),
        "backend": "triton"
        if device.type == "cuda" and current_backend() != "reference"
        else "torch",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "shape": [args.batch, args.tokens, args.width],
        "probes": args.probes,
        "repeats": args.repeats,
        "score_many_one_ms": full["one"] * 1e3,
        "score_many_bank_ms": full["bank"] * 1e3,
        "project_one_ms": kernel["one"] * 1e3,
        "project_bank_ms": kernel["bank"] * 1e3,
        "score_many_one_gbs": moved(1) / full["one"] / 1e9,
        "score_many_bank_gbs": moved(args.probes) / full["bank"] / 1e9,
        "project_one_gbs": moved(1) / kernel["one"] / 1e9,
        "project_bank_gbs": moved(args.probes) / kernel["bank"] / 1e9,
        "ratio": kernel_ratio,
        "project_ratio": kernel["bank"] / kernel["one"],
        "restack_one_ms": restack["one"] * 1e3,
        "restack_bank_ms": restack["bank"] * 1e3,
        "e2e_model": e2e["spec"],
        "e2e_shape": [args.batch, args.seq, args.width],
        "e2e_layers": args.layers,
        "e2e_hook": e2e["hook"],
        "e2e_repeats": args.e2e_repeats,
        "forward_ms": e2e["forward"] * 1e3,
        "forward_one_ms": e2e["one"] * 1e3,
        "forward_bank_ms": e2e["bank"] * 1e3,
        "end_to_end_ratio": e2e_ratio,
        "goal_ratio": GOAL_RATIO,
        "meets_goal": e2e_ratio <= GOAL_RATIO,
        "kernel_meets_goal": kernel_ratio <= GOAL_RATIO,
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()})"


def table(r: dict) -> str:
    """The end-to-end rows (the goal), then the kernel-only rows and the restack cost."""
    b, t, d = r["e2e_shape"]
    lines = [
        f"end to end: {r['e2e_model']} forward over {b} x {t} tokens, every token scored at "
        f"{r['e2e_hook']} (interp hooked) on {r['device']} ({r['backend']}, {r['threads']} "
        f"threads), median of {r['e2e_repeats']} interleaved repeats",
        f"{'call':<14} {'probes':>6} {'ms':>10} {'vs forward':>10} {'vs one':>7}",
        f"{'forward':<14} {0:>6} {r['forward_ms']:>10.2f} {1.0:>10.3f} {'':>7}",
    ]
    for k, key in ((1, "forward_one_ms"), (r["probes"], "forward_bank_ms")):
        lines.append(
            f"{'forward+score':<14} {k:>6} {r[key]:>10.2f} {r[key] / r['forward_ms']:>10.3f} "
            f"{r[key] / r['forward_one_ms']:>7.3f}"
        )
    lines += [
        "",
        f"kernel only: {r['shape'][0]} x {r['shape'][1]} tokens x width {r['shape'][2]}, "
        f"prebuilt ProbeBank, median of {r['repeats']} interleaved repeats",
        f"{'call':<14} {'probes':>6} {'ms':>10} {'GB/s':>10} {'vs one':>7}",
    ]
    for call, key in (("score_many", "score_many"), ("project", "project")):
        one, bank = r[f"{key}_one_ms"], r[f"{key}_bank_ms"]
        lines.append(f"{call:<14} {1:>6} {one:>10.3f} {r[f'{key}_one_gbs']:>10.2f} {1.0:>7.2f}")
        lines.append(
            f"{call:<14} {r['probes']:>6} {bank:>10.3f} {r[f'{key}_bank_gbs']:>10.2f} "
            f"{bank / one:>7.2f}"
        )
    lines.append(
        f"restack (ProbeBank build + float32 copy, paid once per bank, in no row above): "
        f"{r['restack_one_ms']:.3f} ms for 1 probe, {r['restack_bank_ms']:.3f} ms for {r['probes']}"
    )
    lines.append("")
    verdict = "meets" if r["meets_goal"] else "misses"
    lines.append(
        f"end to end, {r['probes']} probes cost {r['end_to_end_ratio']:.3f}x one probe "
        f"({verdict} the goal <= {GOAL_RATIO}x)"
    )
    why = (
        "on the CPU one probe is a memory-bound matrix-vector product and the bank a compute-bound "
        "matmul; on a GPU the projection kernel reads the activations once for all probes "
        "(unmeasured here)"
        if r["backend"] == "torch"
        else "the projection kernel reads the activations once for all probes"
    )
    lines.append(f"kernel only, {r['ratio']:.2f}x one probe: {why}")
    return "\n".join(lines)


def append_csv(path: Path, r: dict) -> None:
    """One row per measurement, with device, versions and time (plotting is a separate script).

    `shape` is the row's own: the kernel shape for score_many, project and restack, the batch the
    model ran on for forward and forward_score (k = 0 for the forward alone); no GB/s for those.
    """
    fields = ["time", "bench", "device", "backend", "torch", "threads"]
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow([*fields, "shape", "probes", "call", "k", "median_ms", "gbs"])
        head = [str(r[x]) for x in fields]
        for call in ("score_many", "project", "restack"):
            for k, tag in ((1, "one"), (r["probes"], "bank")):
                gbs = r.get(f"{call}_{tag}_gbs", "")
                writer.writerow(
                    [*head, str(r["shape"]), r["probes"], call, k, r[f"{call}_{tag}_ms"], gbs]
                )
        e2e = (("forward", 0, "forward_ms"), ("forward_score", 1, "forward_one_ms"))
        for call, k, key in (*e2e, ("forward_score", r["probes"], "forward_bank_ms")):
            writer.writerow([*head, str(r["e2e_shape"]), r["probes"], call, k, r[key], ""])


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=512, help="kernel rows: tokens per sequence")
    parser.add_argument("--width", type=int, default=512, help="model and probe width")
    parser.add_argument("--probes", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=31, help="kernel rows")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seq", type=int, default=256, help="end to end: tokens per sequence")
    parser.add_argument("--layers", type=int, default=4, help="end to end: model layers")
    parser.add_argument("--heads", type=int, default=8, help="end to end: attention heads")
    parser.add_argument("--e2e-repeats", type=int, default=11, help="end to end")
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1: shared machines contend)"
    )
    parser.add_argument("--csv", type=Path, default=None, help="append the rows to this CSV")
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (CI)")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.tokens, args.width, args.probes = 2, 64, 64, 16
        args.seq, args.layers, args.heads = 32, 2, 4
        args.repeats, args.e2e_repeats, args.warmup = 5, 3, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    result = measure(args)
    print(table(result))
    if args.csv:
        append_csv(args.csv, result)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
