"""Draw the kernel benchmarks: achieved GB/s against tokens, one panel per op, one line per
provider, with the measured copy bandwidth dashed as the ceiling.

    python benchmarks/plot.py --csv runs/bench-kernels-.../results.csv     # -> results.png beside it
    python benchmarks/plot.py --csv my.csv --out my.png --dtype fp16 --variant inplace

Reads the CSV that `benchmarks/bench_*.py` and `interp bench kernels` write. For each
(op, variant, provider, tokens, d_model, k, dtype, device) the latest row wins; one variant is
drawn (default: out). Needs only matplotlib.
"""

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

PROVIDER_STYLE = {"torch-eager": "o-", "torch-compile": "s-", "triton": "^-", "reference": "x:"}


def load_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def latest(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The most recent row for each case and provider (timestamps are ISO, so they sort)."""
    keep: dict[tuple, dict[str, str]] = {}
    for row in sorted(rows, key=lambda r: r["utc"]):
        key = tuple(
            row.get(c, "out")
            for c in ("op", "variant", "provider", "tokens", "d_model", "k", "dtype", "device")
        )
        keep[key] = row
    return list(keep.values())


def choose(rows: list[dict[str, str]], device: str | None, dtype: str | None) -> tuple[str, str]:
    """Default to the device of the newest row, and bf16 when that device has it."""
    newest = max(rows, key=lambda r: r["utc"])
    device = device or newest["device"]
    dtypes = {r["dtype"] for r in rows if r["device"] == device}
    dtype = dtype or ("bf16" if "bf16" in dtypes else newest["dtype"])
    return device, dtype


def plot(
    rows: list[dict[str, str]],
    out: Path,
    device: str | None = None,
    dtype: str | None = None,
    variant: str = "out",
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("no rows to plot")
    device, dtype = choose(rows, device, dtype)
    rows = [
        r
        for r in latest(rows)
        if r["device"] == device and r["dtype"] == dtype and r.get("variant", "out") == variant
    ]
    if not rows:
        raise ValueError(f"no rows for device {device!r}, dtype {dtype!r}, variant {variant!r}")
    ops = sorted({r["op"] for r in rows})
    cols = min(3, len(ops))
    nrows = -(-len(ops) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5 * cols, 3.6 * nrows), squeeze=False)
    for ax, op in zip(axes.flat, ops, strict=False):
        lines: dict[tuple[str, str, str], list[tuple[int, float]]] = defaultdict(list)
        copy: dict[int, list[float]] = defaultdict(list)
        op_rows = [r for r in rows if r["op"] == op]
        several_widths = len({r["d_model"] for r in op_rows}) > 1
        for r in op_rows:
            tokens = int(r["tokens"])
            lines[(r["provider"], r["k"], r["d_model"])].append((tokens, float(r["gb_s"])))
            copy[tokens].append(float(r["copy_gb_s"]))
        for (provider, k, width), points in sorted(lines.items()):
            xs, ys = zip(*sorted(points), strict=True)
            label = f"{provider} k={k}" + (f" d={width}" if several_widths else "")
            ax.plot(xs, ys, PROVIDER_STYLE.get(provider, "x-"), label=label)
        xs = sorted(copy)
        ax.plot(xs, [sum(copy[x]) / len(copy[x]) for x in xs], "k--", label="copy (measured)")
        ax.set_xscale("log", base=2)
        ax.set_title(op)
        ax.set_xlabel("tokens")
        ax.set_ylabel("GB/s (minimum bytes / median time)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(ops) :]:
        ax.set_visible(False)
    fig.suptitle(f"{device}, {dtype}, {variant}")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, required=True, help="a results.csv of the harness")
    parser.add_argument("--out", type=Path, help="the PNG (default: beside the CSV)")
    parser.add_argument("--device", help="device name as in the CSV (default: the newest row's)")
    parser.add_argument("--dtype", help="bf16, fp16 or fp32 (default: bf16 when present)")
    parser.add_argument("--variant", default="out", help="out, inplace or last (default: out)")
    args = parser.parse_args(argv)
    if not args.csv.is_file():
        print(
            f"no results at {args.csv}; run a benchmarks/bench_*.py script first", file=sys.stderr
        )
        return 1
    out = args.out or args.csv.with_suffix(".png")
    out = plot(load_rows(args.csv), out, args.device, args.dtype, args.variant)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
