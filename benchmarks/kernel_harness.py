"""Kernel benchmarks: Triton against native torch, eager and compiled, against copy bandwidth.

For each op, size (tokens x d_model), k, dtype and variant (see `kernel_cases.py`) it times every
provider with `triton.testing.do_bench` (median and 20th/80th percentiles; the L2 cache is flushed
between runs), turns the time into bandwidth over the op's minimum bytes, and compares it with a
device-to-device copy of the activation measured in the same run. Each result is checked against
the op's float32 reference (`max_abs_err`). Rows go to a CSV in the run directory, a table is
printed for a person, and `--json` prints one line of JSON for a machine instead.

    interp bench kernels --quick                          # from a checkout (interp installed)
    python benchmarks/kernel_harness.py --quick           # the same without interp installed
    python benchmarks/bench_project.py --sizes 8192x4096 --dtypes bf16 --ks 1 16

On a machine without CUDA only torch runs (the Triton provider is skipped, with a note), timed
with a wall clock, so CI exercises the harness; those numbers say nothing about a GPU.

It imports `interp.kernels` when interp is installed, else the checkout's `kernels/` folder by
path (`INTERP_BENCH_FROM_PATH=1` forces that): torch and triton are enough.
"""

import argparse
import contextlib
import csv
import datetime as _dt
import importlib
import importlib.util
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # kernel_cases beside this file, however this was loaded
from kernel_cases import (  # noqa: E402
    DTYPES,
    OP_GROUPS,
    OPS,
    PROVIDERS,
    VARIANTS,
    Case,
    batch_shape,
    make_case,
    variants_for,
)

__all__ = ["COLUMNS", "OPS", "PROVIDERS", "append_csv", "build_parser", "main", "run_benchmarks"]

SIZES = ("1x4096", "16x4096", "64x4096", "2048x4096", "8192x4096")  # decode to prefill
QUICK_SIZES_GPU = ("64x4096", "8192x4096")
QUICK_SIZES_CPU = ("64x128", "4096x128")
KS = (0, 1, 4, 8, 16)  # 0: capture without directions (what the streaming reducers call)
COLUMNS = (
    "utc",
    "op",
    "variant",
    "provider",
    "tokens",
    "batch",
    "pos",
    "d_model",
    "k",
    "dtype",
    "median_ms",
    "p20_ms",
    "p80_ms",
    "bytes_moved",
    "gb_s",
    "pct_of_copy_bw",
    "copy_gb_s",
    "max_abs_err",
    "device",
    "torch_version",
    "triton_version",
)

# Goals of the kernels issue, judged on the rows of a CUDA run.
GOAL_PCT_OF_COPY = 80.0
GOAL_SPEEDUP_VS_EAGER = 2.0
PREFILL_TOKENS = 8192


def load_kernels() -> ModuleType:
    """`interp.kernels` when interp is installed; else the checkout's `kernels/` folder, loaded by
    path under a private package name (its modules import each other relatively)."""
    if not os.environ.get("INTERP_BENCH_FROM_PATH"):
        try:
            return importlib.import_module("interp.kernels")
        except ImportError:
            pass
    name, folder = "_interp_kernels", HERE.parent / "kernels"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        spec.loader.exec_module(package)
    return sys.modules[name]


# ----------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile of already sorted values."""
    pos = q * (len(sorted_values) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _wall_clock(fn: Callable[[], Any], device: torch.device, quick: bool) -> list[float]:
    """Median, p20, p80 in ms by wall clock (CPU, or CUDA without triton)."""
    budget_s, min_reps, max_reps = (0.05, 3, 20) if quick else (0.5, 5, 200)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    fn()
    sync()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_reps or (
        time.perf_counter() - start < budget_s and len(times) < max_reps
    ):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return [_quantile(times, q) for q in (0.5, 0.2, 0.8)]


def time_ms(fn: Callable[[], Any], device: torch.device, quick: bool = False) -> list[float]:
    """[median, p20, p80] in milliseconds: `do_bench` on CUDA, a wall clock elsewhere."""
    if device.type == "cuda" and _has_triton():
        from triton.testing import do_bench  # same signature in triton 3.6 and 3.9

        warmup, rep = (10, 30) if quick else (25, 100)
        return list(do_bench(fn, warmup=warmup, rep=rep, quantiles=[0.5, 0.2, 0.8]))
    return _wall_clock(fn, device, quick)


def copy_bandwidth(nbytes: int, device: torch.device, quick: bool) -> float:
    """GB/s of a device-to-device copy of `nbytes` (read + write counted)."""
    n = max(1, nbytes // 4)
    src = torch.empty(n, dtype=torch.float32, device=device).uniform_()
    dst = torch.empty_like(src)
    median = time_ms(lambda: dst.copy_(src), device, quick)[0]
    return 2 * n * 4 / (median * 1e-3) / 1e9


def _has_triton() -> bool:
    return importlib.util.find_spec("triton") is not None


# ----------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------


def _sig(x: float, digits: int = 5) -> float:
    """`x` to `digits` significant figures (small CPU bandwidths must not round to zero)."""
    return float(f"{x:.{digits}g}")


def _max_abs_err(got: Any, want: Any) -> float:
    if isinstance(want, (tuple, list)):
        errs = [_max_abs_err(g, w) for g, w in zip(got, want, strict=True) if w is not None]
        return max(errs) if errs else 0.0
    return float((got.float() - want.float()).abs().max()) if want.numel() else 0.0


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def _provider_fn(kernels: ModuleType, provider: str, case: Case) -> Callable[[Any], Any]:
    """fn(h) for a provider; torch.compile compiles at its first call (the warm-up)."""
    if provider == "torch-compile":
        if hasattr(torch, "_dynamo"):
            torch._dynamo.reset()  # a fresh cache per case: recompile limits would fall back
        return torch.compile(case.calls["torch-eager"], dynamic=False)
    backend = {"triton": "triton", "triton-per-block": "triton", "reference": "reference"}.get(
        provider
    )
    fn = case.calls[provider]
    if backend is None:
        return fn

    def forced(h: Any) -> Any:
        with kernels.use_backend(backend):
            return fn(h)

    return forced


def _expand_ops(ops: Sequence[str] | None) -> list[str]:
    out: list[str] = []
    for op in ops or ["all"]:
        for name in OP_GROUPS.get(op, (op,)):
            if name not in OPS:
                raise ValueError(f"unknown op {name!r}; choose from {', '.join(OPS)} or groups "
                                 f"{', '.join(OP_GROUPS)}")  # fmt: skip
            if name not in out:
                out.append(name)
    return out


def parse_size(text: str) -> tuple[int, int]:
    """'8192x4096' -> (tokens, d_model)."""
    try:
        tokens, width = (int(part) for part in text.lower().split("x"))
    except ValueError as err:
        raise ValueError(f"size {text!r} is not TOKENSxWIDTH, e.g. 8192x4096") from err
    if tokens <= 0 or width <= 0:
        raise ValueError(f"size {text!r} must be positive")
    return tokens, width


def default_providers(device: torch.device) -> list[str]:
    if device.type != "cuda":
        return ["torch-eager"]
    return ["torch-eager", "torch-compile", "triton", "triton-per-block"]


def _ks_for(op: str, ks: Sequence[int]) -> list[int]:
    """The ks an op runs at: k = 0 only for capture (no directions); rotate has one direction,
    so it runs once (as k = 1) whatever the list."""
    if op == "steer_rotate":
        return [1] if any(k >= 1 for k in ks) else []
    return [k for k in ks if k >= 1 or op == "capture_reduce"]


def run_benchmarks(
    ops: Sequence[str] | None = None,
    sizes: Sequence[str] | None = None,
    dtypes: Sequence[str] | None = None,
    providers: Sequence[str] | None = None,
    ks: Sequence[int] | None = None,
    variants: Sequence[str] | None = None,
    quick: bool = False,
    device: str | torch.device | None = None,
    csv_path: str | Path | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Benchmark every (op, size, k, dtype, variant, provider); return the rows (and append them
    to `csv_path` when given, case by case). Providers that cannot run here are skipped with a
    note to `log`; `progress` prints one line per case to stderr."""
    kernels = load_kernels()
    dev = torch.device(device) if device is not None else torch.device(
        "cuda" if torch.cuda.is_available() else "cpu"
    )  # fmt: skip
    log = log or (lambda message: print(message, file=sys.stderr))
    on_gpu = dev.type == "cuda"
    ops = _expand_ops(ops)
    sizes = list(sizes or (SIZES if not quick else QUICK_SIZES_GPU if on_gpu else QUICK_SIZES_CPU))
    dtypes = list(dtypes or ["bf16"])
    providers = list(providers or default_providers(dev))
    ks = list(ks if ks is not None else KS)
    variants = list(variants or VARIANTS)
    for name, values, known in (("provider", providers, PROVIDERS), ("dtype", dtypes, DTYPES),
                                ("variant", variants, VARIANTS)):  # fmt: skip
        for value in values:
            if value not in known:
                raise ValueError(f"unknown {name} {value!r}; choose from {', '.join(known)}")
    parsed = [parse_size(size) for size in sizes]
    if "triton" in providers and not (on_gpu and kernels.HAS_TRITON):
        log("note: the triton provider needs triton and a CUDA device; skipped")
        providers.remove("triton")
    if "triton-per-block" in providers and not (on_gpu and kernels.HAS_TRITON):
        providers.remove("triton-per-block")
    versions = {
        "torch_version": torch.__version__,
        "triton_version": getattr(kernels.dispatch.triton, "__version__", "") or "",
        "device": device_name(dev),
    }
    specs = [
        (op, tokens, width, k, dtype_name, variant)
        for op in ops
        for tokens, width in parsed
        for k in _ks_for(op, ks)
        for dtype_name in dtypes
        for variant in variants_for(op, batch_shape(tokens)[1])
        if variant in variants
    ]
    rows: list[dict[str, Any]] = []
    copy_cache: dict[int, float] = {}
    for i, (op, tokens, width, k, dtype_name, variant) in enumerate(specs):
        case = make_case(kernels, op, variant, tokens, width, k, DTYPES[dtype_name], dev, seed)
        if case is None:
            continue
        start = time.perf_counter()
        act_bytes = case.batch * case.pos * width * DTYPES[dtype_name].itemsize
        if act_bytes not in copy_cache:
            copy_cache[act_bytes] = copy_bandwidth(act_bytes, dev, quick)
        case_rows = _run_case(
            kernels, case, providers, dev, quick, copy_cache[act_bytes], versions, log
        )
        # Rows are appended case by case, so a run stopped by a time limit keeps what it measured.
        if csv_path is not None and case_rows:
            append_csv(csv_path, case_rows)
        rows += case_rows
        if progress:
            print(f"[{i + 1}/{len(specs)}] {op} {variant} {tokens}x{width} k={case.k} "
                  f"{dtype_name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)  # fmt: skip
    return rows


def _run_case(
    kernels: ModuleType,
    case: Case,
    providers: Sequence[str],
    device: torch.device,
    quick: bool,
    copy_gb_s: float,
    versions: dict[str, str],
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    want = _provider_fn(kernels, "reference", case)(case.make_h())
    rows = []
    for provider in providers:
        if provider not in case.calls and provider != "torch-compile":
            continue  # triton-per-block: only where the kernel has a persistent grid too
        try:
            fn = _provider_fn(kernels, provider, case)
            # Warm-up (compiles Triton kernels and torch.compile graphs) on a fresh input, whose
            # result is checked: in place updates it, so the timed input is another one.
            err = "" if provider == "reference" else f"{_max_abs_err(fn(case.make_h()), want):.3g}"
            h = case.make_h()
            median, p20, p80 = time_ms(lambda fn=fn, h=h: fn(h), device, quick)
        except Exception as exc:  # one provider failing (e.g. no compiler) skips only its row
            log(f"note: {case.op} {case.variant} {provider} {case.tokens}x{case.d_model} "
                f"{case.dtype} failed: {type(exc).__name__}: {exc}")  # fmt: skip
            continue
        gb_s = case.bytes_moved / (median * 1e-3) / 1e9
        rows.append(
            {
                "utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "op": case.op,
                "variant": case.variant,
                "provider": provider,
                "tokens": case.tokens,
                "batch": case.batch,
                "pos": case.pos,
                "d_model": case.d_model,
                "k": case.k,
                "dtype": case.dtype,
                "median_ms": _sig(median),
                "p20_ms": _sig(p20),
                "p80_ms": _sig(p80),
                "bytes_moved": case.bytes_moved,
                "gb_s": _sig(gb_s),
                "pct_of_copy_bw": _sig(100 * gb_s / copy_gb_s),
                "copy_gb_s": _sig(copy_gb_s),
                "max_abs_err": err,
                **versions,
            }
        )
    return rows


# ----------------------------------------------------------------------------------------------
# Output: CSV, table, goals, JSON
# ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(f: Any) -> Any:
    """An exclusive lock on an open file where the platform has one (POSIX)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def append_csv(path: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Append rows under a lock, writing the header only to a new or empty file. A file whose
    header differs from `COLUMNS` is left alone (ValueError): write to another path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", newline="") as f, _locked(f):
        f.seek(0)
        header = f.readline().strip()
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        if not header:
            writer.writeheader()
        elif header.split(",") != list(COLUMNS):
            raise ValueError(
                f"{path} has other columns ({header[:80]}...); pass --csv with a new file"
            )
        f.seek(0, os.SEEK_END)
        writer.writerows(rows)
        f.flush()
    return path


def _case_key(row: dict[str, Any]) -> tuple:
    return (row["op"], row["variant"], row["tokens"], row["d_model"], row["k"], row["dtype"],
            row["device"])  # fmt: skip


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A fixed-width table for a person: one line per case and provider, with bandwidth, its
    share of the copy bandwidth and the speedup over native torch eager."""
    eager = {_case_key(r): r["median_ms"] for r in rows if r["provider"] == "torch-eager"}
    head = ("op", "variant", "size", "k", "dtype", "provider", "time_us", "GB/s", "%copy",
            "x_eager", "max_err")  # fmt: skip
    lines = [head]
    for r in rows:
        base = eager.get(_case_key(r))
        speedup = f"{base / r['median_ms']:.2f}" if base and r["median_ms"] > 0 else "-"
        lines.append(
            (r["op"], r["variant"], f"{r['tokens']}x{r['d_model']}", str(r["k"]), r["dtype"],
             r["provider"], f"{1e3 * r['median_ms']:.1f}", f"{r['gb_s']:.4g}",
             f"{r['pct_of_copy_bw']:.3g}", speedup, r["max_abs_err"] or "-")
        )  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def check_goals(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's goals, judged on these rows (an empty list when none of them apply).

    - capture_reduce and project at 8192 x 4096 bf16, k <= 16: >= 80% of copy bandwidth;
    - every op at prefill size (8192 tokens): >= 2x native torch eager and no slower than
      torch.compile of the same.
    """
    by_case: dict[tuple, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_case.setdefault(_case_key(r), {})[r["provider"]] = r
    goals = []
    for key, providers in by_case.items():
        op, variant, tokens, width, k, dtype, _ = key
        tri = providers.get("triton")
        if tri is None or tokens < PREFILL_TOKENS:
            continue
        name = f"{op} {variant} {dtype} k={k} {tokens}x{width}"
        if op in ("capture_reduce", "project") and width == 4096 and dtype == "bf16" and k <= 16:
            goals.append(_goal(f"{name} % of copy bandwidth", tri["pct_of_copy_bw"],
                               GOAL_PCT_OF_COPY))  # fmt: skip
        if "torch-eager" in providers:
            speedup = providers["torch-eager"]["median_ms"] / tri["median_ms"]
            goals.append(_goal(f"{name} speedup vs eager", speedup, GOAL_SPEEDUP_VS_EAGER))
        if "torch-compile" in providers:
            ratio = providers["torch-compile"]["median_ms"] / tri["median_ms"]
            goals.append(_goal(f"{name} speedup vs compile", ratio, 1.0))
    return goals


def _goal(name: str, value: float, target: float) -> dict[str, Any]:
    return {"goal": name, "value": round(value, 3), "target": target, "met": value >= target}


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------


def _split(values: Sequence[str] | None) -> list[str] | None:
    """Accept both `--ops a b` and `--ops a,b`."""
    if values is None:
        return None
    return [part for value in values for part in value.split(",") if part]


def default_run_dir() -> Path:
    """A new run directory under ./runs, named by the UTC time."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"bench-kernels-{stamp}"


def build_parser(
    prog: str | None = None, description: str | None = None, default_ops: Sequence[str] = ("all",)
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description or __doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--ops", nargs="+", default=list(default_ops),
        help=f"ops or groups: {', '.join(OPS)}; {', '.join(OP_GROUPS)} (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--sizes", nargs="+", metavar="TOKENSxWIDTH",
        help=f"sizes; up to 256 tokens are a decode step (default: {' '.join(SIZES)}; --quick: "
        f"{' '.join(QUICK_SIZES_GPU)} on a GPU, {' '.join(QUICK_SIZES_CPU)} on a CPU)",
    )  # fmt: skip
    parser.add_argument("--dtypes", nargs="+", help="bf16, fp16, fp32 (default: bf16)")
    parser.add_argument(
        "--providers", nargs="+",
        help=f"{', '.join(PROVIDERS)} (default: torch-eager, torch-compile and triton on CUDA, "
        "torch-eager on a CPU)",
    )  # fmt: skip
    parser.add_argument("--ks", nargs="+", type=int, default=list(KS),
                        help="numbers of directions; 0 = capture without directions, rotate "
                        "runs once (default: %(default)s)")  # fmt: skip
    parser.add_argument(
        "--variants", nargs="+",
        help="out (every position, out of place), inplace (every position), last (the last "
        "position of each sequence, in place) (default: all that apply to the op)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="small sizes, short timings")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--out", type=Path, metavar="DIR",
        help="run directory for results.csv (default: a new runs/bench-kernels-<utc time>)",
    )  # fmt: skip
    where.add_argument("--csv", type=Path, metavar="FILE", help="append rows to this CSV instead")
    where.add_argument("--no-csv", action="store_true", help="write no CSV")
    parser.add_argument("--json", action="store_true", help="print one line of JSON, no table")
    parser.add_argument("--seed", type=int, default=0, help="inputs' seed (default: %(default)s)")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    prog: str | None = None,
    description: str | None = None,
    default_ops: Sequence[str] = ("all",),
) -> int:
    """Run from the command line: a table for a person, or with --json one line of JSON."""
    args = build_parser(prog, description, default_ops).parse_args(argv)
    csv_path = None
    if not args.no_csv:
        csv_path = args.csv or (args.out or default_run_dir()) / "results.csv"
    notes: list[str] = []

    def log(message: str) -> None:
        notes.append(message)
        print(message, file=sys.stderr)

    rows = run_benchmarks(
        ops=_split(args.ops), sizes=_split(args.sizes), dtypes=_split(args.dtypes),
        providers=_split(args.providers), ks=args.ks, variants=_split(args.variants),
        quick=args.quick, device=args.device, csv_path=csv_path, seed=args.seed, log=log,
        progress=not args.json,
    )  # fmt: skip
    goals = check_goals(rows)
    written = csv_path if rows and csv_path is not None else None
    if args.json:
        summary = {"suite": "kernels", "device": rows[0]["device"] if rows else None,
                   "csv": str(written) if written else None, "goals": goals, "notes": notes,
                   "rows": rows}  # fmt: skip
        print(json.dumps(summary, separators=(",", ":")))
        return 0
    print(format_table(rows))
    for goal in goals:
        print(f"goal: {goal['goal']}: {goal['value']} (target >= {goal['target']}) "
              f"{'met' if goal['met'] else 'NOT met'}")  # fmt: skip
    if not goals:
        print("goals: not judged (they need the triton provider at 8192 tokens on a GPU)")
    print(f"rows written to {written}" if written else "no CSV written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
