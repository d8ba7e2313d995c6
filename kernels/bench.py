"""Benchmark harness for the kernels: torch eager vs torch.compile vs Triton, against copy bandwidth.

For each op, size (tokens x d_model), k and dtype it times every provider with
`triton.testing.do_bench` (median and 20th/80th percentiles; the L2 cache is flushed between
runs), converts the time into achieved bandwidth over the op's minimum bytes, and compares it with
the bandwidth of a device-to-device copy of a tensor of the same size, measured in the same run.
Rows are appended to a CSV (`benchmarks/results.csv` of the checkout by default), a table is
printed for a person and the run ends with one line of JSON for a machine.

On a machine without CUDA only the reference provider ("torch-eager") runs, timed with a wall
clock, so the harness itself is exercised in CI.

    python -m interp.kernels.bench --quick             # or: interp bench kernels --quick
    python -m interp.kernels.bench --ops project --sizes 8192x4096 --dtypes bf16 --ks 1 16 64

Providers:
    torch-eager    the float32 torch reference of the op (`*_reference`), eagerly
    torch-compile  the same reference under `torch.compile` (compiled once per case, not timed)
    triton         the public function on the Triton path

This module imports only torch (and triton when present), so it runs from a plain checkout.
"""

import argparse
import contextlib
import csv
import datetime as _dt
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .capture_reduce import capture_reduce, capture_reduce_reference
from .dispatch import HAS_TRITON, triton, use_backend
from .project import project, project_reference
from .steer_update import (
    steer_ablate,
    steer_ablate_reference,
    steer_add,
    steer_add_reference,
    steer_clamp,
    steer_clamp_reference,
    steer_rotate,
    steer_rotate_reference,
)

__all__ = ["COLUMNS", "OPS", "PROVIDERS", "append_csv", "build_parser", "main", "run_benchmarks"]

OPS = ("capture_reduce", "project", "steer_add", "steer_ablate", "steer_clamp", "steer_rotate")
OP_GROUPS = {"steer_update": OPS[2:], "all": OPS}
PROVIDERS = ("torch-eager", "torch-compile", "triton")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
SIZES = ("64x4096", "512x4096", "2048x4096", "8192x4096")  # decode to prefill
QUICK_SIZES_GPU = ("64x4096", "8192x4096")
QUICK_SIZES_CPU = ("64x128", "256x256")
COLUMNS = (
    "utc",
    "op",
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
DEFAULT_CSV = Path(__file__).resolve().parent.parent / "benchmarks" / "results.csv"

# Goals of the kernels issue, checked on the rows of a CUDA run.
GOAL_PCT_OF_COPY = 80.0
GOAL_SPEEDUP_VS_EAGER = 2.0
PREFILL_TOKENS = 8192


# ----------------------------------------------------------------------------------------------
# Cases: inputs, the call each provider makes, and the bytes the op must move
# ----------------------------------------------------------------------------------------------


@dataclass
class Case:
    op: str
    tokens: int
    batch: int
    pos: int
    d_model: int
    k: int
    dtype: str
    bytes_moved: int
    reference: Callable[[], Any]  # float32 torch math; also what torch.compile compiles
    kernel: Callable[[], Any]  # the public function (Triton path when forced)
    extra: dict[str, Any] = field(default_factory=dict)


def batch_shape(tokens: int) -> tuple[int, int]:
    """(batch, pos) for a number of tokens: decode sizes are one new token per sequence,
    prefill sizes are sequences of up to 2048 tokens."""
    if tokens <= 256:
        return tokens, 1
    batch = max(1, tokens // 2048)
    return batch, tokens // batch


def make_case(
    op: str, tokens: int, d_model: int, k: int, dtype: torch.dtype, device: torch.device, seed: int
) -> Case | None:
    """Inputs for one benchmark case, or None when k makes no sense for the op."""
    if op == "steer_rotate":
        k = 1  # one direction by definition
    elif k <= 0 and op != "capture_reduce":
        return None
    gen = torch.Generator(device="cpu").manual_seed(seed)
    B, T = batch_shape(tokens)
    es = torch.empty((), dtype=dtype).element_size()
    act_bytes = B * T * d_model * es
    h = torch.randn(B, T, d_model, generator=gen).to(device=device, dtype=dtype)
    select = torch.ones(B, T, dtype=torch.bool, device=device)
    name = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]
    V = torch.linalg.qr(torch.randn(d_model, max(k, 1), generator=gen))[0].to(device)  # (D, k)
    small = select.numel() + d_model * k * 4  # mask and directions

    if op == "capture_reduce":
        labels = (torch.arange(B) % 2).to(device)
        dirs = V.T.contiguous() if k else None  # (k, D)

        def ref() -> tuple:
            out = capture_reduce_reference(h, select, labels, 2, dirs)
            return out.sums, out.counts, out.sq_sums

        def ker() -> tuple:
            out = capture_reduce(h, select, labels, 2, dirs)
            return out.sums, out.counts, out.sq_sums

        nbytes = act_bytes + small + 2 * (d_model + k + 1) * 4
        return Case(op, tokens, B, T, d_model, k, name, nbytes, ref, ker)

    if op == "project":
        bias = torch.randn(k, generator=gen).to(device)
        scale = torch.rand(k, generator=gen).to(device) + 0.5
        nbytes = act_bytes + d_model * k * 4 + B * T * k * 4
        return Case(
            op, tokens, B, T, d_model, k, name, nbytes,
            lambda: project_reference(h, V, bias, scale),
            lambda: project(h, V, bias, scale),
        )  # fmt: skip

    nbytes = 2 * act_bytes + small  # read and write every row (out of place)
    if op == "steer_add":
        c = torch.randn(k, generator=gen).to(device)
        ref = lambda: steer_add_reference(h, V, c, 0.5, select)  # noqa: E731
        ker = lambda: steer_add(h, V, c, 0.5, select)  # noqa: E731
    elif op == "steer_ablate":
        ref = lambda: steer_ablate_reference(h, V, select)  # noqa: E731
        ker = lambda: steer_ablate(h, V, select)  # noqa: E731
    elif op == "steer_clamp":
        values = torch.randn(k, generator=gen).to(device)
        ref = lambda: steer_clamp_reference(h, V, values, select)  # noqa: E731
        ker = lambda: steer_clamp(h, V, values, select)  # noqa: E731
    elif op == "steer_rotate":
        v = V[:, 0].contiguous()
        ref = lambda: steer_rotate_reference(h, v, 0.2, select)  # noqa: E731
        ker = lambda: steer_rotate(h, v, 0.2, select)  # noqa: E731
    else:
        raise ValueError(f"unknown op {op!r}; choose from {', '.join(OPS)}")
    return Case(op, tokens, B, T, d_model, k, name, nbytes, ref, ker)


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
    if device.type == "cuda" and HAS_TRITON:
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


def _provider_fn(provider: str, case: Case) -> Callable[[], Any]:
    if provider == "torch-eager":

        def eager() -> Any:
            with use_backend("reference"):
                return case.reference()

        return eager
    if provider == "torch-compile":
        if hasattr(torch, "_dynamo"):
            torch._dynamo.reset()  # a fresh cache per case: recompile limits would fall back
        compiled = torch.compile(case.reference, dynamic=False)

        def compile_() -> Any:
            with use_backend("reference"):
                return compiled()

        return compile_
    if provider == "triton":

        def triton_() -> Any:
            with use_backend("triton"):
                return case.kernel()

        return triton_
    raise ValueError(f"unknown provider {provider!r}; choose from {', '.join(PROVIDERS)}")


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
    return list(PROVIDERS) if device.type == "cuda" else ["torch-eager"]


def run_benchmarks(
    ops: Sequence[str] | None = None,
    sizes: Sequence[str] | None = None,
    dtypes: Sequence[str] | None = None,
    providers: Sequence[str] | None = None,
    ks: Sequence[int] | None = None,
    quick: bool = False,
    device: str | torch.device | None = None,
    csv_path: str | Path | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Benchmark every (op, size, k, dtype, provider); return the rows (and append them to
    `csv_path` when given). Providers that cannot run here are skipped with a note to `log`."""
    dev = torch.device(device) if device is not None else torch.device(
        "cuda" if torch.cuda.is_available() else "cpu"
    )  # fmt: skip
    log = log or (lambda message: print(message, file=sys.stderr))
    on_gpu = dev.type == "cuda"
    sizes = list(sizes or (SIZES if not quick else QUICK_SIZES_GPU if on_gpu else QUICK_SIZES_CPU))
    dtypes = list(dtypes or (["bf16"] if quick else ["bf16", "fp16", "fp32"]))
    providers = list(providers or default_providers(dev))
    ks = list(ks if ks is not None else [8])
    for p in providers:
        if p not in PROVIDERS:
            raise ValueError(f"unknown provider {p!r}; choose from {', '.join(PROVIDERS)}")
    if "triton" in providers and not (on_gpu and HAS_TRITON):
        log("note: the triton provider needs triton and a CUDA device; skipped")
        providers.remove("triton")
    versions = {
        "torch_version": torch.__version__,
        "triton_version": getattr(triton, "__version__", "") if HAS_TRITON else "",
        "device": device_name(dev),
    }
    rows: list[dict[str, Any]] = []
    copy_cache: dict[int, float] = {}
    for op in _expand_ops(ops):
        for size in sizes:
            tokens, width = parse_size(size)
            for k in ks:
                for dtype_name in dtypes:
                    case = make_case(op, tokens, width, k, DTYPES[dtype_name], dev, seed)
                    if case is None:
                        continue
                    act_bytes = case.batch * case.pos * width * DTYPES[dtype_name].itemsize
                    if act_bytes not in copy_cache:
                        copy_cache[act_bytes] = copy_bandwidth(act_bytes, dev, quick)
                    rows += _run_case(
                        case, providers, dev, quick, copy_cache[act_bytes], versions, log
                    )
    if csv_path is not None and rows:
        append_csv(csv_path, rows)
    return rows


def _run_case(
    case: Case,
    providers: Sequence[str],
    device: torch.device,
    quick: bool,
    copy_gb_s: float,
    versions: dict[str, str],
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    rows = []
    want = None
    for provider in providers:
        try:
            fn = _provider_fn(provider, case)
            got = fn()  # warm-up: compiles Triton kernels and torch.compile graphs
            if provider == "torch-eager":
                want, err = got, ""
            else:
                if want is None:
                    want = _provider_fn("torch-eager", case)()
                err = f"{_max_abs_err(got, want):.3g}"
            median, p20, p80 = time_ms(fn, device, quick)
        except Exception as exc:  # one provider failing (e.g. no compiler) skips only its row
            log(f"note: {case.op} {provider} {case.tokens}x{case.d_model} {case.dtype} failed: "
                f"{type(exc).__name__}: {exc}")  # fmt: skip
            continue
        gb_s = case.bytes_moved / (median * 1e-3) / 1e9
        rows.append(
            {
                "utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "op": case.op,
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


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A fixed-width table, with each provider's speedup over torch eager for the same case."""
    eager = {
        _case_key(r): r["median_ms"] for r in rows if r["provider"] == "torch-eager"
    }  # fmt: skip
    head = ("op", "provider", "tokens", "d_model", "k", "dtype", "median_ms", "p20-p80_ms",
            "GB/s", "%copy", "x_eager", "max_err")  # fmt: skip
    lines = [head]
    for r in rows:
        base = eager.get(_case_key(r))
        speedup = f"{base / r['median_ms']:.2f}" if base and r["median_ms"] > 0 else "-"
        lines.append(
            (r["op"], r["provider"], str(r["tokens"]), str(r["d_model"]), str(r["k"]), r["dtype"],
             f"{r['median_ms']:.4f}", f"{r['p20_ms']:.4f}-{r['p80_ms']:.4f}", f"{r['gb_s']:.4g}",
             f"{r['pct_of_copy_bw']:.3g}", speedup, r["max_abs_err"] or "-")
        )  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines
    )


def _case_key(row: dict[str, Any]) -> tuple:
    return (row["op"], row["tokens"], row["d_model"], row["k"], row["dtype"], row["device"])


def check_goals(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's goals, judged on these rows (an empty list when none of them apply).

    - capture_reduce and project at 8192 x 4096 bf16, k <= 16: >= 80% of copy bandwidth;
    - every op at prefill size (8192 tokens): >= 2x torch eager and no slower than torch.compile.
    """
    by_case: dict[tuple, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_case.setdefault(_case_key(r), {})[r["provider"]] = r
    goals = []
    for key, providers in by_case.items():
        op, tokens, width, k, dtype, _ = key
        tri = providers.get("triton")
        if tri is None or tokens < PREFILL_TOKENS:
            continue
        if op in ("capture_reduce", "project") and width == 4096 and dtype == "bf16" and k <= 16:
            goals.append(_goal(f"{op} {dtype} k={k} % of copy bandwidth", tri["pct_of_copy_bw"],
                               GOAL_PCT_OF_COPY))  # fmt: skip
        if "torch-eager" in providers:
            speedup = providers["torch-eager"]["median_ms"] / tri["median_ms"]
            goals.append(_goal(f"{op} {dtype} k={k} {tokens}x{width} speedup vs eager", speedup,
                               GOAL_SPEEDUP_VS_EAGER))  # fmt: skip
        if "torch-compile" in providers:
            ratio = providers["torch-compile"]["median_ms"] / tri["median_ms"]
            goals.append(_goal(f"{op} {dtype} k={k} {tokens}x{width} speedup vs compile", ratio,
                               1.0))  # fmt: skip
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
        help=f"sizes (default: {' '.join(SIZES)}; --quick: {' '.join(QUICK_SIZES_GPU)} on a GPU, "
        f"{' '.join(QUICK_SIZES_CPU)} on a CPU)",
    )  # fmt: skip
    parser.add_argument(
        "--dtypes", nargs="+", help="bf16, fp16, fp32 (default: all three; --quick: bf16)"
    )
    parser.add_argument(
        "--providers", nargs="+",
        help=f"{', '.join(PROVIDERS)} (default: all on CUDA, torch-eager on a CPU)",
    )  # fmt: skip
    parser.add_argument("--ks", nargs="+", type=int, default=[8],
                        help="numbers of directions; 0 = capture without directions "
                        "(default: %(default)s)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="small sizes, short timings (CI)")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument(
        "--csv", type=Path, default=None,
        help=f"append rows here (default: {DEFAULT_CSV} when that folder exists)",
    )  # fmt: skip
    parser.add_argument("--no-csv", action="store_true", help="do not write a CSV")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(
    argv: list[str] | None = None,
    *,
    prog: str | None = None,
    description: str | None = None,
    default_ops: Sequence[str] = ("all",),
) -> int:
    """Run from the command line: a table for a person, then one line of JSON. Returns 0."""
    args = build_parser(prog, description, default_ops).parse_args(argv)
    csv_path = None
    if not args.no_csv:
        csv_path = args.csv or (DEFAULT_CSV if DEFAULT_CSV.parent.is_dir() else None)
    notes: list[str] = []

    def log(message: str) -> None:
        notes.append(message)
        if not args.json:
            print(message, file=sys.stderr)

    rows = run_benchmarks(
        ops=_split(args.ops), sizes=_split(args.sizes), dtypes=_split(args.dtypes),
        providers=_split(args.providers), ks=args.ks, quick=args.quick, device=args.device,
        csv_path=csv_path, seed=args.seed, log=log,
    )  # fmt: skip
    goals = check_goals(rows)
    if not args.json:
        print(format_table(rows))
        for goal in goals:
            print(f"goal: {goal['goal']}: {goal['value']} (target >= {goal['target']}) "
                  f"{'met' if goal['met'] else 'NOT met'}")  # fmt: skip
        if not goals:
            print("goals: not judged (they need the triton provider at 8192 tokens on a GPU)")
        print(f"rows appended to {csv_path}" if csv_path else "no CSV written")
    summary = {
        "suite": "kernels",
        "device": rows[0]["device"] if rows else None,
        "csv": str(csv_path) if csv_path else None,
        "goals": goals,
        "notes": notes,
        "rows": rows,
    }
    print(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
