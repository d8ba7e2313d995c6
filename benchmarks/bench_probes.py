"""Scoring every token with a bank of probes at once vs with one probe, through `score_many`.

`score_many` folds each probe's standardizer into one column of V and scores all of them in one
projection (`interp.kernels.project`: Triton on CUDA, torch elsewhere), so the activations are
read once whatever the number of probes. This measures, in one run with the two interleaved
(repeat i times one probe, then the bank, alternating which goes first), the median time of:

- `score_many(acts, probes[:1])` against `score_many(acts, probes)`: the whole call, stacking the
  probes' folded weights included;
- the projection alone (`project(acts, V, bias)` with V already stacked), to show how much of the
  difference is the kernel and how much the Python around it.

Goal: the bank of 64 costs at most 1.2x one probe. Bandwidth is the bytes that must move (the
activations read once, V, the scores written) over the median time.

    python benchmarks/bench_probes.py                 # 8 x 512 tokens x width 512, 64 probes
    python benchmarks/bench_probes.py --quick         # small and short, for CI
    python benchmarks/bench_probes.py --csv benchmarks/results.csv   # also append the rows

Prints a table, then one line of JSON (the last line) with the ratio.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch

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
    pair: dict[str, Callable[[], object]], device: torch.device, repeats: int, warmup: int
) -> dict[str, float]:
    """Median seconds of each of two calls, measured alternately (the order flips every repeat)."""
    names = list(pair)
    for _ in range(warmup):
        for name in names:
            pair[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(repeats):
        for name in names if i % 2 == 0 else names[::-1]:
            times[name].append(timed(pair[name], device))
    return {name: statistics.median(t) for name, t in times.items()}


def measure(args: argparse.Namespace) -> dict:
    """All four timings and what they mean, as one record."""
    from interp.kernels import current_backend, project
    from interp.probes import score_many
    from interp.probes.probe import stack_probes

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    gen = torch.Generator().manual_seed(0)
    acts = torch.randn(args.batch, args.tokens, args.width, generator=gen).to(device)  # (B, T, D)
    probes = make_probes(args.probes, args.width, device)
    V1, b1 = (t.to(device, torch.float32) for t in stack_probes(probes[:1]))
    Vk, bk = (t.to(device, torch.float32) for t in stack_probes(probes))

    with torch.inference_mode():
        full = interleaved(
            {"one": lambda: score_many(acts, probes[:1]), "bank": lambda: score_many(acts, probes)},
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
    rows = acts.shape[0] * acts.shape[1]

    def moved(k: int) -> int:  # activations read once, V and bias, the scores written
        return acts.numel() * acts.element_size() + (args.width + 1) * k * 4 + rows * k * 4

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
        "ratio": full["bank"] / full["one"],
        "project_ratio": kernel["bank"] / kernel["one"],
        "goal_ratio": GOAL_RATIO,
        "meets_goal": full["bank"] / full["one"] <= GOAL_RATIO,
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()})"


def table(r: dict) -> str:
    """Four rows: each call for one probe and for the bank, its time, bandwidth and ratio."""
    lines = [
        f"{r['shape'][0]} x {r['shape'][1]} tokens x width {r['shape'][2]} on {r['device']} "
        f"({r['backend']}, {r['threads']} threads), median of {r['repeats']} interleaved repeats",
        f"{'call':<12} {'probes':>6} {'ms':>9} {'GB/s':>8} {'vs one':>7}",
    ]
    for call, key in (("score_many", "score_many"), ("project", "project")):
        one, bank = r[f"{key}_one_ms"], r[f"{key}_bank_ms"]
        lines.append(f"{call:<12} {1:>6} {one:>9.3f} {r[f'{key}_one_gbs']:>8.2f} {1.0:>7.2f}")
        lines.append(
            f"{call:<12} {r['probes']:>6} {bank:>9.3f} {r[f'{key}_bank_gbs']:>8.2f} "
            f"{bank / one:>7.2f}"
        )
    verdict = "meets" if r["meets_goal"] else "misses"
    lines.append(
        f"{r['probes']} probes cost {r['ratio']:.2f}x one probe ({verdict} the goal <= {GOAL_RATIO}x)"
    )
    return "\n".join(lines)


def append_csv(path: Path, r: dict) -> None:
    """One row per measurement, with device, versions and time (plotting is a separate script)."""
    fields = ["time", "bench", "device", "backend", "torch", "threads", "shape", "probes"]
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow([*fields, "call", "k", "median_ms", "gbs"])
        for call in ("score_many", "project"):
            for k, tag in ((1, "one"), (r["probes"], "bank")):
                writer.writerow(
                    [
                        *(str(r[x]) for x in fields),
                        call,
                        k,
                        r[f"{call}_{tag}_ms"],
                        r[f"{call}_{tag}_gbs"],
                    ]
                )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--probes", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1: shared machines contend)"
    )
    parser.add_argument("--csv", type=Path, default=None, help="append the rows to this CSV")
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (CI)")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.tokens, args.width, args.probes = 2, 64, 64, 16
        args.repeats, args.warmup = 5, 1
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
