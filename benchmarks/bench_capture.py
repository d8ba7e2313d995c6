"""Cost of streaming capture against a plain forward pass and TransformerLens' run_with_cache.

On a random Llama-architecture model large enough that the forward pass dominates, or on any model
interp loads (`--model PATH`: a .gguf, a Hugging Face directory, a llama2.c checkpoint, organism:NAME),
measures in one run, the modes taken in turn so that drift in the machine hits all alike:

- `plain`: the time per batch of a plain forward;
- `streaming`: the same forward with per-label means streamed at every layer's resid_post (interp's
  hooks and the `LabelMeans` reducer);
- `run_with_cache`: TransformerLens' bridge caching every layer's resid_post over all the prompts in
  one run, then the same means. Where the bridge does not support the model
  (`with_backend(model, "bridge")` raises `InterpError`) this column is reported as unavailable.

Peak memory is measured in a fresh subprocess per mode (peak resident set size above the loaded
model, its weights made resident first; Linux only), at N prompts and at 10 x N prompts. A .gguf is
saved once as a plain Hugging Face directory for these subprocesses, so each does not dequantize it
again. Goal: capture costs at most 1.10x a plain forward on the random model and 1.05x on a real
one, and its peak memory stays flat as the prompts grow tenfold while run_with_cache's grows. The
means from streaming capture are checked against run_with_cache's (or, where the bridge is
unavailable, against the Hugging Face hidden states of every layer but the last, whose hidden state
comes after the final norm); the ratios mean nothing if the two disagree.

Token ids are random ids drawn uniformly from the tokenizer's ordinary (non-special) tokens, each
prompt starting with BOS where the tokenizer has one; not text. The time of a forward pass and of the
reducer does not depend on which ids go in (dense matmuls, every position attended, no branch on the
data), so random ids time the same as text while giving any number of prompts of exactly `--tokens`
ids, with no padding to confound the modes and no corpus to ship. (A mixture-of-experts model, whose
routing depends on the ids, would deserve real text.) The means are a check that two ways of
computing them agree, not features of the model.

    python benchmarks/bench_capture.py                    # random Llama, width 512, 8 layers, 8 x 128 tokens
    python benchmarks/bench_capture.py --quick            # a small random model, for CI
    python benchmarks/bench_capture.py --model M.gguf     # a real model, batches of 4 x 64 tokens
    python benchmarks/bench_capture.py --model M.gguf --quick   # a real model, a few tiny batches (tests)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODES = ("plain", "streaming", "run_with_cache")
GOAL_RANDOM, GOAL_REAL = 1.10, 1.05
# Sizes by (real model?, quick?); explicit options override them.
SIZES = {
    (False, False): {
        "width": 512,
        "layers": 8,
        "batch": 8,
        "tokens": 128,
        "prompts": 16,
        "repeats": 5,
    },
    (False, True): {"width": 64, "layers": 2, "batch": 8, "tokens": 32, "prompts": 8, "repeats": 3},
    (True, False): {"batch": 4, "tokens": 64, "prompts": 8, "repeats": 5},
    (True, True): {"batch": 2, "tokens": 8, "prompts": 4, "repeats": 2},
}


# ---- the model and its inputs -------------------------------------------------------------------
def build(width: int, layers: int, seed: int = 0):
    from interp.models.model import Model
    from interp.models.tiny import tiny_model

    hf, tokenizer = tiny_model("llama", d_model=width, n_layers=layers, n_heads=8, seed=seed)
    return Model(hf=hf, tokenizer=tokenizer, spec=f"random-llama-{width}x{layers}")


def load(args):
    """The model under test: `--model` through interp's loader, else a random Llama."""
    if args.model is None:
        return build(args.width, args.layers)
    from interp.models.load import load_model

    return load_model(args.model)


def ordinary_ids(model) -> torch.Tensor:
    """Ids of the vocabulary's ordinary tokens: within both the tokenizer and the embedding, not special."""
    vocab = min(model.vocab_size, len(model.tokenizer))
    ordinary = torch.ones(vocab, dtype=torch.bool)
    special = [i for i in model.tokenizer.all_special_ids if 0 <= i < vocab]
    ordinary[special] = False
    return ordinary.nonzero().squeeze(1)


def batches(model, n_prompts: int, batch: int, tokens: int, seed: int = 0):
    """(ids, labels) batches of random ordinary ids, BOS first where there is one (see the docstring)."""
    generator = torch.Generator().manual_seed(seed)
    vocab = ordinary_ids(model)
    ids = vocab[torch.randint(len(vocab), (n_prompts, tokens), generator=generator)]
    if model.tokenizer.bos_token_id is not None:
        ids[:, 0] = model.tokenizer.bos_token_id
    labels = torch.arange(n_prompts) % 2
    return [(ids[i : i + batch], labels[i : i + batch]) for i in range(0, n_prompts, batch)]


def resid_post_names(n_layers: int) -> list[str]:
    return [f"blocks.{layer}.hook_resid_post" for layer in range(n_layers)]


# ---- the three modes ----------------------------------------------------------------------------
def plain(model, data) -> None:
    for ids, _ in data:
        model.forward(ids)


def streaming(model, data) -> dict:
    """Per-label means at every layer's resid_post, through interp's hooks and reducers."""
    from interp.capture.batching import Batch
    from interp.capture.reducers import LabelMeans
    from interp.hooks.context import hooked

    reducer = LabelMeans(n_labels=2)
    names = resid_post_names(model.n_layers)
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
    names = resid_post_names(bridge.cfg.n_layers)
    ids = torch.cat([ids for ids, _ in data])
    labels = torch.cat([labels for _, labels in data])
    with torch.no_grad():
        _, cache = bridge.run_with_cache(ids, names_filter=lambda name: name in names)
    return {
        name: torch.stack([cache[name][labels == k].mean((0, 1)) for k in (0, 1)]) for name in names
    }


def hidden_state_means(model, data) -> dict:
    """A reference without the bridge: per-label means of Hugging Face's hidden states. The last
    one comes after the final norm, so it stands for no resid_post and is left out."""
    names = resid_post_names(model.n_layers)[:-1]
    sums = {name: torch.zeros(2, model.d_model, dtype=torch.float64) for name in names}
    counts = torch.zeros(2, dtype=torch.float64)
    with torch.no_grad():
        for ids, labels in data:
            hidden = model.hf(input_ids=ids, output_hidden_states=True).hidden_states
            for layer, name in enumerate(names):
                for k in (0, 1):
                    sums[name][k] += hidden[layer + 1][labels == k].double().sum((0, 1))
            counts += torch.stack([(labels == k).sum() * ids.shape[1] for k in (0, 1)])
    return {name: (s / counts[:, None]).float() for name, s in sums.items()}


def open_bridge(model):
    """(bridge, None) where TransformerLens' bridge supports the model, else (None, why not)."""
    from interp.errors import InterpError
    from interp.models.load import with_backend

    try:
        return with_backend(model, "bridge").bridge, None
    except InterpError as err:
        return None, str(err)


def compare_means(model, bridge, data) -> dict:
    """Largest difference between streamed means and the reference, absolute and relative to the
    largest reference mean (real models carry activations in the hundreds)."""
    streamed = streaming(model, data)
    if bridge is not None:
        reference, kind = run_with_cache_means(bridge, data), "run_with_cache"
    else:
        reference, kind = hidden_state_means(model, data), "hf_hidden_states"
    diff = max(float((streamed[name].means - ref).abs().max()) for name, ref in reference.items())
    scale = max(float(ref.abs().max()) for ref in reference.values())
    return {
        "means_reference": kind,
        "means_layers_checked": len(reference),
        "means_max_abs_diff": diff,
        "means_max_rel_diff": diff / max(scale, 1e-12),
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


# ---- peak memory, one fresh process per measurement ---------------------------------------------
def child_model_spec(args, model, directory: Path) -> str | None:
    """The spec the memory subprocesses load: a .gguf saved once as a plain Hugging Face directory,
    so that each subprocess reads float weights instead of dequantizing the file again."""
    if args.model is None:
        return None
    from interp.models.specs import resolve_spec

    if resolve_spec(args.model)[0] != "gguf":
        return args.model
    return save_plain_copy(model, directory)


def save_plain_copy(model, directory: Path) -> str:
    """`model`'s weights and tokenizer as a Hugging Face directory (one loaded from a GGUF too)."""
    from interp.models.convert import save_hf_directory

    return str(save_hf_directory(model.hf, model.tokenizer, directory, verify=False))


def peak_rss_mb(mode: str, n_prompts: int, args, child_spec: str | None) -> float:
    """Peak resident memory of one configuration above the loaded model, in a fresh process."""
    cmd = [sys.executable, __file__, "--child", mode, "--child-prompts", str(n_prompts)]
    cmd += ["--width", str(args.width), "--layers", str(args.layers), "--batch", str(args.batch)]
    cmd += ["--tokens", str(args.tokens), "--threads", "1"]  # see measure_memory
    if child_spec is not None:
        cmd += ["--model", child_spec]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def measure_memory(args, modes, child_spec: str | None) -> dict[str, dict[int, float]]:
    """Peak MB per mode at N and 10 x N prompts. Peak memory is per process, so `--jobs` of them
    may run side by side without changing any figure; each runs one torch thread, so that they do
    not fight over the cores (torch's threads wait on each other when a core is taken)."""
    cases = [(mode, n) for mode in modes for n in (args.prompts, 10 * args.prompts)]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        peaks = list(pool.map(lambda case: peak_rss_mb(*case, args, child_spec), cases))
    memory: dict[str, dict[int, float]] = {mode: {} for mode in modes}
    for (mode, n), peak in zip(cases, peaks, strict=True):
        memory[mode][n] = peak
    return memory


def child(args) -> None:
    torch.set_num_threads(args.threads)
    model = load(args)
    data = batches(model, args.child_prompts, args.batch, args.tokens)
    runner = None
    if args.child == "run_with_cache":
        from interp.models.load import with_backend

        runner = with_backend(model, "bridge", copy=False).bridge
    make_weights_resident(model)
    base = reset_peak_rss_kb()
    if args.child == "plain":
        plain(model, data)
    elif args.child == "streaming":
        streaming(model, data)
    else:
        run_with_cache_means(runner, data)
    print((status_kb("VmHWM") - base) / 1024)


def make_weights_resident(model) -> None:
    """Read every weight once: weights loaded from safetensors are mapped from the file and become
    resident only when first read, which would otherwise count as the forward's memory."""
    with torch.no_grad():
        for parameter in model.hf.parameters():
            parameter.sum()


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


# ---- the report ---------------------------------------------------------------------------------
def machine() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def rounded(by_n: dict[int, float] | None) -> dict[str, float] | None:
    return None if by_n is None else {str(n): round(peak, 1) for n, peak in by_n.items()}


def growth(by_n: dict[int, float] | None, n: int) -> float | None:
    return None if by_n is None else by_n[10 * n] / max(by_n[n], 1.0)


def report(args, model, seconds, memory, means, unavailable: str | None) -> dict:
    n_batches = -(-args.prompts // args.batch)
    per_batch = {mode: seconds[mode] / n_batches if mode in seconds else None for mode in MODES}
    ratio = {mode: seconds[mode] / seconds["plain"] if mode in seconds else None for mode in MODES}
    goal = GOAL_REAL if args.model else GOAL_RANDOM
    return {
        "model": model.spec,
        "architecture": model.architecture,
        "n_layers": model.n_layers,
        "d_model": model.d_model,
        "token_ids": "random ordinary ids of the tokenizer, BOS first",
        "batch": f"{args.batch}x{args.tokens}",
        "prompts": args.prompts,
        "n_batches": n_batches,
        "repeats": args.repeats,
        "threads": args.threads,
        "machine": machine(),
        "torch": torch.__version__,
        "seconds_per_batch": per_batch,
        "streaming_over_plain": ratio["streaming"],
        "run_with_cache_over_plain": ratio["run_with_cache"],
        "run_with_cache_unavailable": unavailable,
        "goal_streaming_over_plain": goal,
        "meets_goal": ratio["streaming"] <= goal,
        "peak_mb": {mode: rounded(memory.get(mode)) for mode in MODES},
        # Growth as a ratio, and in MB beside plain's (the allocator's own drift over more batches).
        "peak_growth_10x_mb": {
            mode: round(by_n[10 * args.prompts] - by_n[args.prompts], 1)
            for mode, by_n in memory.items()
        },
        "streaming_peak_growth_10x": growth(memory.get("streaming"), args.prompts),
        "run_with_cache_peak_growth_10x": growth(memory.get("run_with_cache"), args.prompts),
        **means,
    }


def print_table(result: dict, n: int) -> None:
    print(
        f"{result['model']} ({result['architecture']}, {result['n_layers']} layers, width "
        f"{result['d_model']}); {result['n_batches']} batches of {result['batch']} tokens, "
        f"{result['token_ids']}; {result['threads']} threads on {result['machine']}"
    )
    print(
        f"{'mode':<16}{'s / batch':>10}{'x plain':>9}{f'peak MB @{n}':>14}"
        f"{f'peak MB @{10 * n}':>14}{'growth MB':>11}"
    )
    for mode in MODES:
        seconds, peak = result["seconds_per_batch"][mode], result["peak_mb"][mode]
        if seconds is None or peak is None:
            print(f"{mode:<16}{'unavailable':>10}   {result['run_with_cache_unavailable']}")
            continue
        ratio = seconds / result["seconds_per_batch"]["plain"]
        print(
            f"{mode:<16}{seconds:>10.4f}{ratio:>9.3f}{peak[str(n)]:>14.1f}"
            f"{peak[str(10 * n)]:>14.1f}{result['peak_growth_10x_mb'][mode]:>11.1f}"
        )
    verdict = "met" if result["meets_goal"] else "NOT met"
    print(
        f"goal streaming <= {result['goal_streaming_over_plain']:.2f}x plain: {verdict}; means vs "
        f"{result['means_reference']} ({result['means_layers_checked']} layers): max abs diff "
        f"{result['means_max_abs_diff']:.2e}, relative {result['means_max_rel_diff']:.2e}"
    )


# ---- main ---------------------------------------------------------------------------------------
def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0]
    )  # defaults depend on --model and --quick, so each help says its own (see SIZES)
    parser.add_argument("--model", help="a model spec interp loads (default: a random Llama)")
    parser.add_argument("--width", type=int, help="random model's width (default 512)")
    parser.add_argument("--layers", type=int, help="random model's layers (default 8)")
    parser.add_argument("--batch", type=int, help="prompts per batch (default 8; real model 4)")
    parser.add_argument("--tokens", type=int, help="tokens per prompt (default 128; real model 64)")
    parser.add_argument(
        "--prompts",
        type=int,
        help="prompts in the timed run and the smaller memory run (default 16; real model 8)",
    )
    parser.add_argument("--repeats", type=int, help="timed rounds (default 5)")
    parser.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help="torch threads for the timed run (default: torch's, %(default)s here)",
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="memory subprocesses run at once (default 2)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes and few repeats (CI and tests)"
    )
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--child-prompts", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    defaults = SIZES[(args.model is not None, args.quick)]
    for name, value in {**SIZES[(False, args.quick)], **defaults}.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        child(args)
        return 0
    torch.set_num_threads(args.threads)
    model = load(args)
    bridge, unavailable = open_bridge(model)
    data = batches(model, args.prompts, args.batch, args.tokens)
    # The means must agree, or the comparison means nothing; this also warms up every mode.
    means = compare_means(model, bridge, data)
    plain(model, data)
    fns = {"plain": lambda: plain(model, data), "streaming": lambda: streaming(model, data)}
    if bridge is not None:
        fns["run_with_cache"] = lambda: run_with_cache_means(bridge, data)
    seconds = time_interleaved(fns, args.repeats)
    with tempfile.TemporaryDirectory(prefix="bench_capture_") as tmp:
        memory = measure_memory(args, list(fns), child_model_spec(args, model, Path(tmp)))
    result = report(args, model, seconds, memory, means, unavailable)
    print_table(result, args.prompts)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
