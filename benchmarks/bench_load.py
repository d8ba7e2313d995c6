"""Where the time of loading a GGUF model goes, and what converting it once to a Hugging Face
directory saves.

Measured in one run, each part on its own (the parts overlap: the whole load does all of them), in
rounds that take the parts in turn so that drift in the machine hits all alike; each figure is the
best of `--repeats` rounds (a load only ever takes longer than its best for reasons outside it):

- `header`: interp's own check of the header and tensor table (`interp.models.gguf.check_gguf`);
- `metadata`: gguf's parse of all metadata and the tensor table (`gguf.GGUFReader(path)`);
- `dequantize`: `gguf.dequantize(t.data, t.tensor_type)` over every tensor of a reader built
  outside the timing;
- `tokenizer`: `AutoTokenizer.from_pretrained(dir, gguf_file=name)`;
- `whole`: `interp.models.load.load_model(path)`;
- `rest`: whole minus dequantize, everything but the dequantization (parsing the file, building the
  tokenizer and the modules, copying the weights in);
- `hf_dir`: `load_model` of the directory `interp convert` writes, then one read of every weight:
  safetensors weights are mapped from the file and read on first use, a cost the GGUF load has
  already paid.

The conversion (`interp.models.convert.convert_model`, which loads the GGUF, saves the directory and
checks that the directory reproduces the GGUF model's logits) runs first and is timed once, as the
one-time cost a fresh `interp convert` pays, first-use imports included. It also warms up what every
later load finds ready (transformers' modules imported on first use, the file in the page cache),
so the parts time the work itself; files are read from the page cache throughout (a cold disk adds
its read time to every part that reads), the new directory flushed to disk first. Absolute
times are this machine's (its CPU and thread count are in the report); the shares of the whole load
are the point.

    python benchmarks/bench_load.py --model SmolLM2-135M-Instruct.Q4_1.gguf
    python benchmarks/bench_load.py --model gemma-3-270m-q4_k_m.gguf --repeats 1   # one round, faster
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# The parts in the order the table shows them: `rest` (whole - dequantize) beside what it splits.
REPORTED = ("header", "metadata", "dequantize", "tokenizer", "whole", "rest", "hf_dir")


# ---- the parts ----------------------------------------------------------------------------------
def read_header(path: Path) -> None:
    from interp.models.gguf import check_gguf

    check_gguf(path)


def parse_metadata(path: Path) -> None:
    import gguf

    gguf.GGUFReader(path)


def dequantize_all(reader) -> int:
    """Dequantize every tensor; returns the number of values, so the work cannot be skipped."""
    import gguf

    return sum(gguf.dequantize(t.data, t.tensor_type).size for t in reader.tensors)


def load_tokenizer(path: Path) -> None:
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)


def load(spec: Path):
    from interp.models.load import load_model

    return load_model(spec)


def load_resident(spec: Path):
    """`load_model` and one read of every weight. Weights from safetensors are mapped from the file
    and read on first use, so without the read a directory's load would pass that cost on to the
    first forward; a GGUF load has already read them all."""
    model = load(spec)
    with torch.no_grad():
        for parameter in model.hf.parameters():
            parameter.sum()
    return model


def convert(path: Path, out: Path) -> Path:
    from interp.models.convert import convert_model

    return convert_model(path, out, verify=True)


# ---- timing -------------------------------------------------------------------------------------
def seconds(fn: Callable[[], object]) -> float:
    """Wall seconds of one call; what it returns is freed after the clock stops, before the next
    part runs."""
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    del result
    gc.collect()
    return elapsed


def time_parts(parts: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Every part once per round, the rounds `repeats` times."""
    times: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(repeats):
        for name, fn in parts.items():
            times[name].append(seconds(fn))
    return times


# ---- the report ---------------------------------------------------------------------------------
def machine() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def report(path: Path, model, reader, times, convert_s: float, args) -> dict:
    best = {name: min(values) for name, values in times.items()}
    best["rest"] = best["whole"] - best["dequantize"]
    best = {name: best[name] for name in REPORTED}
    saved = best["whole"] - best["hf_dir"]
    return {
        "model": str(path),
        "architecture": model.architecture,
        "n_layers": model.n_layers,
        "d_model": model.d_model,
        "n_tensors": len(reader.tensors),
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "float32_mb": round(sum(p.numel() for p in model.hf.parameters()) * 4 / 2**20, 1),
        "machine": machine(),
        "threads": args.threads,
        "versions": {name: version(name) for name in ("torch", "transformers", "gguf")},
        "repeats": args.repeats,
        "seconds": best,
        "all_seconds": times,
        "share_of_whole": {name: s / best["whole"] for name, s in best.items()},
        "dequantize_share": best["dequantize"] / best["whole"],
        "convert_seconds": convert_s,
        "saved_per_load_seconds": saved,
        "loads_to_repay_convert": convert_s / saved if saved > 0 else None,
    }


def print_table(result: dict) -> None:
    print(
        f"{result['model']} ({result['architecture']}, {result['n_layers']} layers, width "
        f"{result['d_model']}, {result['n_tensors']} tensors, {result['file_mb']} MB; float32 "
        f"{result['float32_mb']} MB); this machine: {result['machine']}, {result['threads']} "
        f"threads; best of {result['repeats']}"
    )
    print(f"{'part':<12}{'seconds':>10}{'of whole':>10}")
    for name, s in result["seconds"].items():
        print(f"{name:<12}{s:>10.3f}{result['share_of_whole'][name]:>10.1%}")
    repay = result["loads_to_repay_convert"]
    print(
        f"convert once {result['convert_seconds']:.2f} s; each load from the directory saves "
        f"{result['saved_per_load_seconds']:.2f} s"
        + (f", repaid after {repay:.1f} loads" if repay is not None else "")
    )


# ---- main ---------------------------------------------------------------------------------------
def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="a .gguf file")
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds; each part's best is kept (default 3)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help="torch threads (default: torch's, %(default)s here)",
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    import gguf

    from interp.errors import InterpError
    from interp.models.load import quiet_transformers

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    quiet_transformers()  # its progress bars, not the benchmark's output
    path = args.model.resolve()
    try:
        read_header(path)  # a file that is not a loadable GGUF fails here, before any model time
    except (InterpError, OSError) as err:
        raise SystemExit(f"bench_load: error: {err}") from None
    with tempfile.TemporaryDirectory(prefix="bench_load_") as tmp:
        out = Path(tmp) / "hf"
        convert_s = seconds(lambda: convert(path, out))  # first: see the docstring
        # The directory was just written: flush it, or its first reads wait on the write-back.
        os.sync()
        reader = gguf.GGUFReader(path)
        parts = {
            "header": lambda: read_header(path),
            "metadata": lambda: parse_metadata(path),
            "dequantize": lambda: dequantize_all(reader),
            "tokenizer": lambda: load_tokenizer(path),
            "whole": lambda: load(path),
            "hf_dir": lambda: load_resident(out),
        }
        times = time_parts(parts, args.repeats)
        model = load(out)  # for the report's description of the model
    result = report(path, model, reader, times, convert_s, args)
    print_table(result)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
