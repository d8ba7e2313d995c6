"""The UNLOCK transfer study end to end (methods.md section 1).

1. Direction: per source layer, mean (or PCA) of unlocked minus locked residual streams at the last
   prompt token over N training items (left padding, so position -1 is real).
2. Alignment: the same N items on the locked prompt through Source-locked and Target; layers matched
   by depth; a rank-k map per target layer; the direction carried into the target.
3. Application: prefill only, last prompt token, every target block, the norm-preserving rotation.
4. Selection: the grid over N, rank and alpha is scored on selection items (training split, disjoint
   from the N items); the chosen setting is scored once on the test split.
Controls: the unsteered target, random directions of the same per-layer norm (several seeds), the
source-unlocked model; paired bootstrap intervals; held-out fit quality per layer; KL to the
unsteered target on neutral prompts.
"""

from __future__ import annotations

import itertools
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor

from interp import stats
from interp.align import LayerMaps, fit_layer_maps, fit_report
from interp.capture.run import capture
from interp.directions import DirectionSet
from interp.errors import InterpError
from interp.experiments.loading import load_study_model
from interp.experiments.scoring import next_token_kl
from interp.experiments.transfer_config import TransferConfig
from interp.models.generate import generate
from interp.models.model import Model
from interp.progress import Stages
from interp.steer import steering, steers_from_directions
from interp.store.provenance import dataset_hash


@dataclass
class Split:
    fit: list  # items the direction and maps are fitted on (the largest N)
    select: list  # items the grid is scored on
    test: list  # held-out items, scored once


def load_split(config: TransferConfig) -> Split:
    from interp.organisms.tasks import AddTask, resolve_task
    from interp.organisms.tasks import generate as generate_items

    task = (
        AddTask(config.n_operands, config.digits)
        if config.skill == "add"
        else resolve_task(config.skill)
    )
    n_fit = max(config.n_values)
    train = generate_items(
        task, n_fit + config.n_select, seed=config.seed, split="train", unique=True
    )
    test = generate_items(task, config.n_test, seed=config.seed, split="test", unique=True)
    return Split(train[:n_fit], train[n_fit:], test)


def prompts(items: list, preamble: str) -> list[str]:
    from interp.organisms.tasks import render_prompt

    return [render_prompt(item, preamble) for item in items]


def correctness(
    model: Model, items: list, preamble: str, config: TransferConfig, steers=None
) -> Tensor:
    """1.0 where the greedy answer is right, per item."""
    from interp.organisms.grader import is_correct

    context = steering(model, steers) if steers else nullcontext()
    with context:
        outs = generate(
            model, prompts(items, preamble), config.max_new_tokens, batch_size=config.batch_size
        )
    return torch.tensor(
        [float(is_correct(o.text, i.answer)) for o, i in zip(outs, items, strict=True)]
    )


def last_token_acts(model: Model, texts: list[str], batch_size: int) -> dict[str, Tensor]:
    got = capture(
        model, texts, "resid_post", positions="last", batch_size=batch_size, progress=False
    )
    return {hook: acts.float() for hook, acts in got.activations.items()}


def paired_bootstrap(a: Tensor, b: Tensor, n: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of mean(a - b), resampling items (pairs) with replacement
    (`interp.stats.paired_bootstrap`), as (low, high)."""
    ci = stats.paired_bootstrap(a, b, n=n, seed=seed)
    return ci.low, ci.high


def random_like(directions: DirectionSet, seed: int) -> DirectionSet:
    """Random directions with the same per-layer norms (the control of equal norm)."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(directions.vectors.shape, generator=generator)
    scaled = (
        noise / noise.norm(dim=-1, keepdim=True) * directions.vectors.norm(dim=-1, keepdim=True)
    )
    return DirectionSet(
        scaled,
        directions.layers,
        directions.model,
        directions.hook,
        f"random-{seed}",
        directions.dataset_hash,
        directions.count,
    )


def run_transfer(config: TransferConfig, out: Path, progress: bool = True) -> dict:
    """Run the study into `out` (created whole at the end) and return its metrics."""
    started = time.perf_counter()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InterpError(
            f"run directory {out} already exists and is not empty", fix="pass a new --out"
        )
    source = load_study_model(config, config.source_locked)
    target = load_study_model(config, config.target)
    unlocked = (
        load_study_model(
            config, cast(str, config.source_unlocked)
        )  # TransferConfig.check: set for "model"
        if config.contrast == "model"
        else source
    )
    split = load_split(config)
    bar = Stages("transfer", 4, enabled=progress)

    # Directions and alignment on the largest N, reused for smaller N by slicing.
    locked_texts = prompts(split.fit, config.locked_preamble)
    unlocked_texts = prompts(
        split.fit,
        config.unlocked_preamble if config.contrast == "prompt" else config.locked_preamble,
    )
    source_locked_acts = last_token_acts(source, locked_texts, config.batch_size)
    source_unlocked_acts = last_token_acts(unlocked, unlocked_texts, config.batch_size)
    target_acts = last_token_acts(target, locked_texts, config.batch_size)
    bar.done("directions and maps fitted")

    def fit(n: int, rank: int) -> tuple[DirectionSet, LayerMaps, DirectionSet]:
        data_hash = dataset_hash(locked_texts[:n])
        method = "mean_difference" if config.method == "mean" else "pca_of_differences"
        directions = DirectionSet.from_contrast(
            {h: a[:n] for h, a in source_unlocked_acts.items()},
            {h: a[:n] for h, a in source_locked_acts.items()},
            method,
            model=source,
            dataset_hash=data_hash,
        )
        maps = fit_layer_maps(
            {h: a[:n] for h, a in source_locked_acts.items()},
            {h: a[:n] for h, a in target_acts.items()},
            source=source,
            target=target,
            fit="unlock",
            layers="depth",
            dataset_hash=data_hash,
            rank=rank,
            centre=config.method == "pca",
        )
        return directions, maps, maps.apply(directions, strict=False)

    def steers(transferred: DirectionSet, alpha: float):
        return steers_from_directions(
            transferred, "rotate", alpha, positions="last", phase="prefill"
        )

    # Selection grid, on selection items only.
    grid: list[dict[str, Any]] = []
    fitted = {}
    for n, rank in itertools.product(sorted(set(config.n_values)), sorted(set(config.ranks))):
        fitted[(n, rank)] = fit(n, rank)
        for alpha in config.alphas:
            acc = correctness(
                target,
                split.select,
                config.locked_preamble,
                config,
                steers(fitted[(n, rank)][2], alpha),
            )
            grid.append(
                {"n": n, "rank": rank, "alpha": alpha, "select_accuracy": float(acc.mean())}
            )
    unsteered_select = float(
        correctness(target, split.select, config.locked_preamble, config).mean()
    )
    best = max(
        grid, key=lambda row: (row["select_accuracy"], -row["alpha"], -row["rank"], row["n"])
    )
    bar.done("grid chosen on selection items")

    # One scoring on the test split.
    directions, maps, transferred = fitted[(best["n"], best["rank"])]
    unsteered = correctness(target, split.test, config.locked_preamble, config)
    steered = correctness(
        target, split.test, config.locked_preamble, config, steers(transferred, best["alpha"])
    )
    cued = (
        correctness(target, split.test, config.unlocked_preamble, config)
        if config.contrast == "prompt"
        else None
    )
    source_unlocked_prompt = (
        config.unlocked_preamble if config.contrast == "prompt" else config.locked_preamble
    )
    source_unlocked = correctness(unlocked, split.test, source_unlocked_prompt, config)
    controls = []
    for seed in range(config.n_controls):
        random_steers = steers(random_like(transferred, config.seed * 1000 + seed), best["alpha"])
        controls.append(
            float(
                correctness(
                    target, split.test, config.locked_preamble, config, random_steers
                ).mean()
                - unsteered.mean()
            )
        )
    bar.done("scored once on test items")

    # Fit quality of the chosen maps on held-out items; KL cost on neutral prompts.
    test_texts = prompts(split.test, config.locked_preamble)
    source_test, target_test = (
        last_token_acts(source, test_texts, config.batch_size),
        last_token_acts(target, test_texts, config.batch_size),
    )
    quality = {}
    for target_layer, (source_layer, linear_map) in maps.maps.items():
        report = fit_report(
            linear_map,
            source_test[f"blocks.{source_layer}.hook_resid_post"],
            target_test[f"blocks.{target_layer}.hook_resid_post"],
        )
        quality[str(target_layer)] = {
            "source_layer": source_layer,
            "r2": report["r2"],
            "mean_cosine": report["mean_cosine"],
        }
    kl = neutral_kl(target, config.neutral_prompts, steers(transferred, best["alpha"]))
    bar.done("fit quality and KL measured")
    bar.close()

    gain = float(steered.mean() - unsteered.mean())
    metrics = {
        "target_unsteered_accuracy": float(unsteered.mean()),
        "target_steered_accuracy": float(steered.mean()),
        "gain": gain,
        "gain_ci95": list(paired_bootstrap(steered, unsteered, config.n_bootstrap, config.seed)),
        "random_control_gains": controls,
        "random_control_gain_p95": float(torch.tensor(controls).quantile(0.95)),
        "source_unlocked_accuracy": float(source_unlocked.mean()),
        "target_cued_accuracy": float(cued.mean()) if cued is not None else None,
        "gap_closed": (gain / float(cued.mean() - unsteered.mean()))
        if cued is not None and float(cued.mean() - unsteered.mean()) > 0
        else None,
        "chosen": best,
        "select_unsteered_accuracy": unsteered_select,
        "grid": grid,
        "fit_quality": quality,
        "kl_neutral": kl,
        "n_test": len(split.test),
        "n_select": len(split.select),
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_run(out, config, metrics, directions, maps, transferred)
    return metrics


@torch.no_grad()
def neutral_kl(model: Model, texts: list[str], steers) -> float:
    from interp.capture.batching import encode_item, make_batch
    from interp.capture.items import Item

    encoded = [encode_item(model.tokenizer, Item(t)) for t in texts]
    batch = make_batch(
        encoded, [[] for _ in encoded], range(len(encoded)), model.tokenizer.pad_token_id
    )
    base = model.forward(batch.input_ids, batch.attention_mask)
    with steering(model, steers):
        steered = model.forward(batch.input_ids, batch.attention_mask)
    return next_token_kl(model, base, steered, batch.attention_mask)


def write_run(
    out: Path,
    config: TransferConfig,
    metrics: dict,
    directions: DirectionSet,
    maps: LayerMaps,
    transferred: DirectionSet,
) -> None:
    from interp.files import atomic_directory, atomic_write_json
    from interp.reports.transfer_report import write_figures, write_report

    with atomic_directory(out) as tmp:
        atomic_write_json(tmp / "config.json", config.to_dict())
        atomic_write_json(tmp / "metrics.json", metrics)
        directions.save(tmp / "source_directions.safetensors")
        maps.save(tmp / "maps.safetensors")
        transferred.save(tmp / "target_directions.safetensors")
        write_figures(tmp / "figures", metrics)
        write_report(tmp / "report.md", config, metrics)
